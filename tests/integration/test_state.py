"""Redis-backed memory against a real Redis server (the embedded one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.state import ANSWER_TTL_SECONDS, RedisDeliveryLog, ReviewLedger, connect
from reviewer.review.memory import Unfinished


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    connect(redis_server).flushall()
    return redis_server


def test_a_delivery_is_claimed_once_and_can_be_released(redis_url: str) -> None:
    log = RedisDeliveryLog(connect(redis_url))
    assert log.first_time("idem:1") and not log.first_time("idem:1")
    log.forget("idem:1")
    assert log.first_time("idem:1")


def test_the_ledger_remembers_the_last_reviewed_head(redis_url: str) -> None:
    ledger = ReviewLedger(connect(redis_url))
    assert ledger.last_reviewed(7, 3) is None
    ledger.record(7, 3, "abc")
    assert ledger.last_reviewed(7, 3) == "abc"
    assert ledger.last_reviewed(7, 4) is None


def test_review_commands_on_one_head_are_rate_limited(redis_url: str) -> None:
    ledger = ReviewLedger(connect(redis_url))
    assert ledger.allow_command(7, 3, "abc")
    assert not ledger.allow_command(7, 3, "abc")
    assert ledger.allow_command(7, 3, "def")


def test_a_retry_of_the_same_command_delivery_passes_its_own_cooldown(redis_url: str) -> None:
    ledger = ReviewLedger(connect(redis_url))
    assert ledger.allow_command(7, 3, "abc", "idem:1")
    assert ledger.allow_command(7, 3, "abc", "idem:1")  # the task retried after a transient error
    assert not ledger.allow_command(7, 3, "abc", "idem:2")  # another comment moments later


def test_a_head_reviewed_in_part_is_not_recorded_as_reviewed(redis_url: str) -> None:
    ledger = ReviewLedger(connect(redis_url))
    ledger.record(7, 3, "abc")
    ledger.record(7, 3, "def", unfinished=["app/b.py"])
    assert ledger.last_reviewed(7, 3) == "abc"
    assert ledger.unfinished(7, 3) == Unfinished("def", ("app/b.py",))
    ledger.record(7, 3, "def")  # the next trigger reviewed what failed
    assert ledger.last_reviewed(7, 3) == "def" and ledger.unfinished(7, 3) is None


def test_model_answers_are_kept_per_head_for_a_week(redis_url: str) -> None:
    client = connect(redis_url)
    ledger = ReviewLedger(client)
    answers = ledger.answers(7, 3, "abc")
    assert answers.get("q1") is None
    answers.put("q1", '{"findings": []}')
    assert ledger.answers(7, 3, "abc").get("q1") == '{"findings": []}'
    assert ledger.answers(7, 3, "def").get("q1") is None  # another head asks again
    assert 6 * 24 * 3600 < client.ttl("reviewer:answers:7:3:abc") <= ANSWER_TTL_SECONDS


def test_both_url_spellings_reach_the_same_server(redis_url: str) -> None:
    connect(redis_url).set("k", "v")
    assert connect(redis_url.replace("unix://", "redis+socket://")).get("k") == b"v"
