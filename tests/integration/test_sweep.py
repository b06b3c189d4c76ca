"""The catch-up sweep against the GitLab stand-in and a real Redis: what it queues, and what not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.state import ReviewLedger, connect
from reviewer.app.sweep import ReviewedProjects, SweepClaims, Unreviewed, sweep
from reviewer.gitlab.client import GitLabClient

DAY = 86400.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as embedded:
        yield embedded


@pytest.fixture
def client(server: EmbeddedRedis) -> redis.Redis:
    client = connect(server.url)
    client.flushall()
    return client


def _project(gitlab: GitLabStandIn, path: Path, name: str, branches: int) -> tuple[int, list[int]]:
    repo = GitRepo.create(path, files={"README.md": "# app\n"})
    project_id = gitlab.add_project(name, repo)
    iids = []
    for n in range(branches):
        repo.commit({f"f{n}.py": f"x = {n}\n"}, branch=f"b{n}", message=f"change {n}")
        iids.append(gitlab.open_mr(project_id, f"b{n}"))
    return project_id, iids


def test_the_sweep_queues_each_unreviewed_head_once_and_never_a_reviewed_one(
    client: redis.Redis, tmp_path: Path
) -> None:
    with GitLabStandIn() as gitlab:
        reviewed_pid, (done, missed) = _project(gitlab, tmp_path / "app", "group/app", 2)
        quiet_pid, _ = _project(gitlab, tmp_path / "old", "group/old", 1)
        ledger, projects, claims = ReviewLedger(client), ReviewedProjects(client), SweepClaims(client)
        ledger.record(reviewed_pid, done, gitlab.mr(reviewed_pid, done)["sha"])
        projects.touch(reviewed_pid)
        projects.touch(quiet_pid, now=time.time() - 30 * DAY)  # reviewed long ago: out of the horizon
        gitlab.fail_next("GET", r"/merge_requests$", 429, headers={"Retry-After": "1"})  # rate limited once
        queued: list[Unreviewed] = []

        def once() -> list[Unreviewed]:
            return sweep(
                GitLabClient(gitlab.url, gitlab.token),
                ledger,
                projects,
                claims,
                queued.append,
                interval=600,
                horizon=7 * DAY,
                pause=0,
            )

        first = once()
        second = once()

    head = gitlab.mr(reviewed_pid, missed)["sha"]
    assert first == queued == [Unreviewed(reviewed_pid, missed, head)]
    assert second == []  # that head is queued already
    assert projects.recent(7 * DAY) == [reviewed_pid]  # the old project is forgotten
    listings = [r for r in gitlab.requests if r.method == "GET" and r.path.endswith("/merge_requests")]
    assert [r.status for r in listings] == [429, 200, 200]  # waited out the 429, then listed again
    assert {r.query["state"] for r in listings} == {"opened"} and "updated_after" in listings[-1].query


def test_one_sweep_at_a_time_and_a_pause_between_projects(client: redis.Redis, tmp_path: Path) -> None:
    with GitLabStandIn() as gitlab:
        pids = [_project(gitlab, tmp_path / f"p{n}", f"group/p{n}", 1)[0] for n in range(3)]
        projects, claims = ReviewedProjects(client), SweepClaims(client)
        for pid in pids:
            projects.touch(pid)
        pauses: list[float] = []
        assert claims.start(60)  # another worker's sweep is running
        kwargs = {"interval": 600.0, "horizon": DAY, "pause": 0.25, "sleep": pauses.append}
        gitlab_client = GitLabClient(gitlab.url, gitlab.token)
        assert sweep(gitlab_client, ReviewLedger(client), projects, claims, print, **kwargs) == []  # type: ignore[arg-type]
        claims.finish()
        queued = sweep(gitlab_client, ReviewLedger(client), projects, claims, lambda mr: None, **kwargs)  # type: ignore[arg-type]
    assert len(queued) == 3
    assert pauses == [0.25, 0.25]  # between the three listings
