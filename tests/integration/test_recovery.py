"""Reviews that survive what goes wrong, with real processes: `reviewer worker` and `reviewer serve`
against a real Redis, the GitLab stand-in and the gateway stand-in. Timings are shortened by settings
(review_stack.FAST): the visibility timeout is 3 s here, a minute in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from fakes.gateway_server import FakeGateway, error
from fakes.gitlab_server import GitLabStandIn
from fakes.ports import free_port
from fakes.webhooks import merge_request_hook
from review_stack import (
    FINDINGS,
    bot_threads,
    open_todo_mr,
    settings_env,
    start_worker,
    start_workers,
    stop,
    summaries,
    thread_titles,
    todo_model,
    wait_for,
)

from reviewer.app.config import Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.events import ReviewJob
from workers.celery_app import create_celery
from workers.tasks import enqueue_review

EXPECTED = sorted(f"Unfinished error handling on line {4 * n + 2}" for n in range(FINDINGS))


@dataclass
class Cluster:
    gitlab: GitLabStandIn
    gateway: FakeGateway
    redis: EmbeddedRedis
    project_id: int
    iid: int
    env: dict[str, str]
    home: Path

    def enqueue(self) -> str:
        celery = create_celery(self.redis.url, Settings())
        try:
            return enqueue_review(celery, ReviewJob(self.project_id, self.iid, "opened"), "test-delivery")
        finally:
            celery.close()

    def result(self, task_id: str, timeout: float = 60) -> dict[str, object]:
        celery = create_celery(self.redis.url, Settings())
        try:
            return dict(celery.AsyncResult(task_id).get(timeout=timeout))
        finally:
            celery.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with (
        EmbeddedRedis(tmp_path / "redis") as redis_server,
        GitLabStandIn() as gitlab,
        FakeGateway(responder=todo_model) as gateway,
    ):
        project_id, iid = open_todo_mr(gitlab, tmp_path / "app")
        env = settings_env(gitlab, gateway, tmp_path, REVIEWER_REDIS_URL=redis_server.url)
        yield Cluster(gitlab, gateway, redis_server, project_id, iid, env, tmp_path)


def test_a_worker_killed_while_it_posts_leaves_the_review_to_another_with_nothing_posted_twice(
    cluster: Cluster,
) -> None:
    gitlab = cluster.gitlab
    # The second draft's POST takes a moment: the worker is killed while it waits for the answer.
    # It lands 2 s after it was sent: after the kill, before the job can be redelivered (4 s).
    gitlab.inject("POST", r"/draft_notes$", "slow_write", nth=(2,), delay=2.0)
    logs = [cluster.home / "one.log", cluster.home / "two.log"]
    env = {**cluster.env, "REVIEWER_VISIBILITY_TIMEOUT": "4"}
    workers = start_workers(env, {"one@%h": logs[0], "two@%h": logs[1]})
    try:
        task_id = cluster.enqueue()
        wait_for(gitlab.slowed.is_set, 60, lambda: "a slowed draft post")
        posting = next(i for i, log in enumerate(logs) if f"[{task_id}] received" in log.read_text())
        workers[posting].send_signal(signal.SIGKILL)
        workers[posting].wait(timeout=10)
        assert bot_threads(gitlab, cluster.project_id, cluster.iid) == []  # drafts, not yet published

        outcome = cluster.result(task_id)  # redelivered after the visibility timeout

        assert outcome["status"] == "reviewed"
        other = logs[1 - posting]  # the other worker did it
        wait_for(lambda: f"[{task_id}] succeeded" in other.read_text(), 10, lambda: "its log line")
        assert thread_titles(gitlab, cluster.project_id, cluster.iid) == EXPECTED  # each exactly once
        (summary,) = summaries(gitlab, cluster.project_id, cluster.iid)
        assert "could not be completed" not in summary
    finally:
        for worker in workers:
            stop(worker)


def test_four_gateway_errors_in_a_row_only_delay_the_review_and_the_worker_answers_its_health_check(
    cluster: Cluster,
) -> None:
    cluster.gateway.script(*[error(500)] * 4)  # three attempts of one try, then one of the retry
    log = cluster.home / "worker.log"
    worker = start_worker(cluster.env, log, "solo@%h")
    try:
        outcome = cluster.result(cluster.enqueue())
        assert outcome["status"] == "reviewed", log.read_text()
        assert len(cluster.gateway.requests) == 5
        assert thread_titles(cluster.gitlab, cluster.project_id, cluster.iid) == EXPECTED
        assert "will be retried" in log.read_text()

        checks = {name: _check(cluster.env, name) for name in ("solo@%h", "nobody@%h")}  # both at once
        answers = {name: check.wait(timeout=60) for name, check in checks.items()}
        assert answers == {"solo@%h": 0, "nobody@%h": 1}
    finally:
        stop(worker)


def _check(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "workers.main", "worker", "--check", "--name", name, "--timeout", "1"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_serve_with_the_embedded_redis_retries_through_its_own_broker_and_stops_it_on_sigint(
    tmp_path: Path,
) -> None:
    with GitLabStandIn() as gitlab, FakeGateway(responder=todo_model) as gateway:
        project_id, iid = open_todo_mr(gitlab, tmp_path / "app")
        gateway.script(*[error(500)] * 4)
        port = free_port()
        log = tmp_path / "serve.log"
        serve = subprocess.Popen(
            [sys.executable, "-m", "workers.main", "serve", "--no-demo", "--port", str(port)],
            env=settings_env(gitlab, gateway, tmp_path),
            cwd=tmp_path,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            intake = f"http://127.0.0.1:{port}"
            wait_for(lambda: _healthy(intake), 60, lambda: "a healthy intake", serve, log)
            (redis_server,) = [p for p in psutil.Process(serve.pid).children() if "redis-server" in p.name()]
            headers, payload = merge_request_hook(gitlab, project_id, iid, "open")
            assert httpx.post(f"{intake}/webhooks/gitlab", json=payload, headers=headers).status_code == 202

            wait_for(lambda: summaries(gitlab, project_id, iid), 60, lambda: "a summary note", serve, log)

            assert thread_titles(gitlab, project_id, iid) == EXPECTED
            assert len(gateway.requests) == 5
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)  # uvicorn stops gracefully, then `serve` closes what it started
            wait_for(lambda: not _alive(redis_server), 15, lambda: "the embedded Redis to stop")
        finally:
            stop(serve)


def _healthy(intake: str) -> bool:
    try:
        return httpx.get(f"{intake}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_embedded_redis_dies_with_its_owner_even_when_the_owner_is_killed(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from reviewer.app.embedded_redis import EmbeddedRedis; "
            "server = EmbeddedRedis(pathlib.Path(sys.argv[1])); print(server.pid, flush=True); "
            "sys.stdin.read()",
            str(tmp_path / "state"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert owner.stdout is not None
        server = psutil.Process(int(owner.stdout.readline()))
        assert "redis-server" in server.name()
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        wait_for(lambda: not _alive(server), 15, lambda: "the orphaned redis-server to die")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
