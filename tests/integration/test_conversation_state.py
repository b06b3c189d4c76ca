"""What people told the bot, in a real Redis (the embedded one): pauses, dismissed findings,
remembered rules, and limits that answer a retried note as they answered it the first time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reviewer.app.conversation_state import MAX_RULE_CHARS, MAX_RULES, ConversationState
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.state import connect, opened


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConversationState]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield ConversationState(connect(server.url))
    finally:
        server.close()


def test_pause_ignore_are_per_merge_request(state: ConversationState) -> None:
    state.pause(1, 1)
    state.ignore(1, 1, ["fp1", "fp2"])
    assert state.paused(1, 1) and not state.paused(1, 2)
    assert state.ignored(1, 1) == {"fp1", "fp2"} and state.ignored(1, 2) == frozenset()
    state.resume(1, 1)
    assert not state.paused(1, 1)


def test_rules_are_numbered_capped_and_a_retried_note_adds_or_removes_one_once(
    state: ConversationState,
) -> None:
    assert state.remember(2, "use  db.q()\n for SQL", claim="n1") == 1
    assert state.remember(2, "use  db.q()\n for SQL", claim="n1") == 1  # the same note again
    assert state.remember(2, "x" * 1000, claim="n2") == 2
    assert state.rules(2) == ("use db.q() for SQL", "x" * MAX_RULE_CHARS)
    assert state.forget(2, 1, claim="n3") == "use db.q() for SQL"
    assert state.forget(2, 1, claim="n3") == "use db.q() for SQL"  # not the next rule as well
    assert state.rules(2) == ("x" * MAX_RULE_CHARS,)
    assert state.forget(2, 5, claim="n4") is None
    for n in range(MAX_RULES - 1):
        state.remember(2, f"rule {n}", claim=f"m{n}")
    assert state.remember(2, "one too many", claim="late") is None and len(state.rules(2)) == MAX_RULES


def test_a_limit_counts_claims_and_answers_a_claim_again_as_before(state: ConversationState) -> None:
    decisions = [state.allow("b", 2, 3600, claim=f"note{n}") for n in range(4)]
    assert decisions == [True, True, False, False]
    assert state.allow("b", 2, 3600, claim="note1") and not state.allow("b", 2, 3600, claim="note3")
    assert (
        state.first_in("k", 3600, "a")
        and state.first_in("k", 3600, "a")
        and not state.first_in("k", 3600, "b")
    )


def test_a_command_reads_the_embedded_redis_data_and_writes_nothing_back(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    ConversationState(connect(server.url)).remember(5, "use db.q()", claim="n")
    server.close()  # Redis saves its data as it stops
    data = tmp_path / "reviewer.rdb"
    before = data.read_bytes()

    with opened(None, tmp_path) as client:  # `reviewer stats` without REVIEWER_REDIS_URL
        assert ConversationState(client).rules(5) == ("use db.q()",)
        client.set("scratch", b"1")

    assert data.read_bytes() == before
