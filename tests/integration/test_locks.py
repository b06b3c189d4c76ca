"""The renewed MR lock and the outcomes of finished jobs, against a real Redis server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.locks import JobOutcomes, MergeRequestLocks
from reviewer.app.state import connect

TTL = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as embedded:
        yield embedded


@pytest.fixture
def client(server: EmbeddedRedis) -> redis.Redis:
    client = connect(server.url)
    client.flushall()
    return client


def _expires_within(client: redis.Redis, key: str, seconds: float) -> bool:
    ttl = client.pttl(key)
    return 0 < ttl <= seconds * 1000


def test_one_review_of_an_mr_at_a_time(client: redis.Redis) -> None:
    locks = MergeRequestLocks(client, ttl=30)
    held = locks.try_hold(7, 3)
    assert held is not None
    assert locks.try_hold(7, 3) is None
    assert locks.try_hold(7, 4) is not None  # another MR
    held.release()
    assert locks.try_hold(7, 3) is not None


def test_a_running_review_keeps_its_lock_past_the_ttl(client: redis.Redis) -> None:
    locks = MergeRequestLocks(client, ttl=TTL)
    with locks.try_hold(7, 3) as held:  # type: ignore[union-attr]
        ends = time.monotonic() + 3 * TTL
        while time.monotonic() < ends:  # several TTLs pass while the review runs
            assert locks.try_hold(7, 3) is None
            time.sleep(TTL / 4)  # sampling the lock over time is what this test is about
        assert not held.lost.is_set()
    assert locks.try_hold(7, 3) is not None  # released at the end


def test_a_dead_holders_lock_lapses_within_its_ttl(client: redis.Redis) -> None:
    # A worker killed mid-review renews nothing: its lock is a plain key with the TTL.
    dead = client.lock("reviewer:lock:7:3", timeout=TTL, thread_local=False)
    assert dead.acquire(blocking=False)
    assert _expires_within(client, "reviewer:lock:7:3", TTL)
    locks = MergeRequestLocks(client, ttl=TTL)
    assert locks.try_hold(7, 3) is None
    ends = time.monotonic() + 5 * TTL
    while (held := locks.try_hold(7, 3)) is None:
        assert time.monotonic() < ends, "the dead holder's lock never lapsed"
        time.sleep(0.05)  # polling the lock with a deadline
    held.release()


def test_a_holder_that_loses_its_lock_is_told_and_releases_nothing_of_the_next_holder(
    client: redis.Redis,
) -> None:
    lost = threading.Event()
    reasons: list[str] = []
    locks = MergeRequestLocks(client, ttl=TTL)

    def on_lost(reason: str) -> None:
        reasons.append(reason)
        lost.set()

    held = locks.try_hold(7, 3, on_lost=on_lost)
    assert held is not None
    client.delete("reviewer:lock:7:3")  # as when the key expired while Redis was away
    other = locks.try_hold(7, 3)
    assert other is not None
    assert lost.wait(timeout=5 * TTL)
    assert held.lost.is_set() and "expired" in reasons[0]
    held.release()
    assert locks.try_hold(7, 3) is None  # the next holder's lock is still there
    other.release()


def test_a_finished_job_keeps_its_outcome(client: redis.Redis) -> None:
    outcomes = JobOutcomes(client)
    assert outcomes.get("job-1") is None
    outcomes.put("job-1", {"status": "reviewed", "inline": 4})
    assert outcomes.get("job-1") == {"status": "reviewed", "inline": 4}
    client.set("reviewer:job:job-2", b"not json")
    assert outcomes.get("job-2") is None
