"""Commands as people write them: only a line that starts with ``/ai-review`` counts, and each
command is registered with what it needs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from reviewer.app.commands import COMMANDS, Command, parse
from reviewer.gitlab.members import DEVELOPER, MAINTAINER


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/ai-review", Command("")),
        ("thanks!\n/ai-review full\n", Command("full")),
        ("  /ai-review   Security  ", Command("security")),
        ("/ai-review remember we use  db.q() for SQL", Command("remember", "we use  db.q() for SQL")),
        ("/ai-review forget 2\n/ai-review full", Command("forget", "2")),  # the first command line counts
        ("/ai-review help\r\n", Command("help")),
    ],
)
def test_a_line_that_starts_with_the_command_is_parsed(text: str, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    "text", ["please run `/ai-review`", "see /ai-review full", "/ai-reviewer", "> /ai-review", "hello"]
)
def test_a_command_anywhere_but_at_a_line_start_is_no_command(text: str) -> None:
    assert parse(text) is None


def test_every_command_says_how_to_use_it_and_who_may() -> None:
    assert {
        "",
        "full",
        "security",
        "style",
        "help",
        "pause",
        "resume",
        "ignore",
        "remember",
        "forget",
        "override",
    } <= set(COMMANDS)
    assert {name for name, spec in COMMANDS.items() if spec.level >= MAINTAINER} == {"remember", "forget"}
    assert all(spec.level >= DEVELOPER and spec.usage.startswith("/ai-review") for spec in COMMANDS.values())


def test_an_override_asks_for_a_review_that_reads_its_note() -> None:
    """Who may override and why is decided by the review (reviewer.gitlab.overrides), which names a
    refusal in the summary: the command only hands over the note."""
    event: Any = SimpleNamespace(project_id=7, iid=3, note=SimpleNamespace(id=99), author=42)
    unused: Any = None  # the handler reads nothing of the context
    reply = COMMANDS["override"].handler(unused, event, Command("override", "incident 42"))
    assert reply.text is None and reply.review is not None
    review = reply.review
    assert (review.trigger, review.note_id, review.requested_by) == ("override", 99, 42)
    assert (review.project, review.iid, review.delivery) == (7, 3, "note:99")
