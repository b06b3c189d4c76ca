"""The review records against a real Redis server (the embedded one): newest first, capped per
list, a job counted once, totals per team since its first record, unreadable records skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.records import ReviewRecord, ReviewRecords
from reviewer.app.state import connect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as embedded:
        yield embedded.url


@pytest.fixture
def client(server: str) -> redis.Redis:
    client = connect(server)
    client.flushall()
    return client


def _record(job: str, team: str, finished_at: float, **fields: Any) -> ReviewRecord:
    values: dict[str, Any] = {"status": "reviewed", "project": "group/app", **fields}
    return ReviewRecord(
        job, 1, int(finished_at), started_at=finished_at - 2, finished_at=finished_at, team=team, **values
    )


def test_records_come_back_newest_first_for_the_installation_and_per_team(client: redis.Redis) -> None:
    store = ReviewRecords(client)
    store.add(_record("a", "payments", 100.0, title="first"))
    store.add(_record("b", "web", 200.0))
    store.add(_record("c", "payments", 300.0, title="third"))

    assert [r.job_id for r in store.recent()] == ["c", "b", "a"]
    assert [r.job_id for r in store.recent(team="payments")] == ["c", "a"]
    assert [r.title for r in store.recent(team="payments")] == ["third", "first"]
    assert store.recent(team="nobody") == []
    assert store.teams() == ["payments", "web"]  # the most recently reviewed first
    assert [r.job_id for r in store.recent(1)] == ["c"]


def test_each_list_keeps_only_the_newest(client: redis.Redis) -> None:
    store = ReviewRecords(client, keep=3)
    for n in range(5):
        store.add(_record(f"job-{n}", "payments" if n % 2 else "web", float(n)))

    assert [r.job_id for r in store.recent(10)] == ["job-4", "job-3", "job-2"]
    assert [r.job_id for r in store.recent(10, team="web")] == ["job-4", "job-2", "job-0"]
    assert store.totals("web").reviews == 3  # the totals count every review, not only those kept


def test_a_job_is_recorded_once(client: redis.Redis) -> None:
    store = ReviewRecords(client)
    assert store.add(_record("job-1", "payments", 1.0))
    assert not store.add(_record("job-1", "payments", 2.0))  # a redelivered copy's outcome
    assert len(store.recent()) == 1
    assert store.totals("payments").reviews == 1


def test_totals_add_up_a_teams_reviews(client: redis.Redis) -> None:
    store = ReviewRecords(client)
    store.add(_record("a", "payments", 10.0, prompt_tokens=1000, completion_tokens=100, cost=0.25, inline=3))
    store.add(
        _record("b", "payments", 20.0, prompt_tokens=500, completion_tokens=50, cost=0.125, in_summary=2)
    )
    store.add(_record("c", "payments", 30.0, status="failed"))

    totals = store.totals("payments")

    assert (totals.reviews, totals.tokens, totals.cost) == (3, 1650, 0.375)
    assert dict(totals.by_status) == {"reviewed": 2, "failed": 1}
    assert (totals.inline, totals.in_summary, totals.since, totals.last) == (3, 2, 10.0, 30.0)
    assert store.totals("nobody").reviews == 0


def test_a_record_this_version_cannot_read_is_skipped(client: redis.Redis) -> None:
    store = ReviewRecords(client)
    store.add(_record("a", "payments", 1.0))
    client.lpush("reviewer:records:recent", b"not json", b'{"job_id": "no other field"}')
    assert [r.job_id for r in store.recent()] == ["a"]


def test_a_record_from_a_newer_version_keeps_what_this_one_knows(client: redis.Redis) -> None:
    store = ReviewRecords(client)
    newer = _record("a", "payments", 1.0).as_json()[:-1] + ',"overridden_by":"alice"}'
    client.lpush("reviewer:records:recent", newer.encode())
    assert [r.job_id for r in store.recent()] == ["a"]


def test_a_job_that_stopped_before_knowing_its_team_counts_for_the_projects_last_known_team(
    client: redis.Redis,
) -> None:
    store = ReviewRecords(client)
    store.add(ReviewRecord("early", 7, 1, "failed", 0.0, 1.0))  # nothing known of project 7 yet
    store.add(ReviewRecord("a", 7, 1, "reviewed", 1.0, 2.0, project="group/app", team="payments"))
    store.add(ReviewRecord("b", 7, 2, "skipped", 2.0, 3.0))
    store.add(ReviewRecord("c", 8, 1, "failed", 3.0, 4.0))

    by_job = {r.job_id: (r.project, r.team) for r in store.recent()}
    assert by_job == {
        "early": ("", ""),
        "a": ("group/app", "payments"),
        "b": ("group/app", "payments"),
        "c": ("", ""),
    }
    assert store.totals("payments").reviews == 2
