"""Commands as people write them: only a line that starts with ``/ai-review`` counts, and each
command is registered with what it needs."""

from __future__ import annotations

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
    } <= set(COMMANDS)
    assert {name for name, spec in COMMANDS.items() if spec.level >= MAINTAINER} == {"remember", "forget"}
    assert all(spec.level >= DEVELOPER and spec.usage.startswith("/ai-review") for spec in COMMANDS.values())
