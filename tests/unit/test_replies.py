"""What the bot answers people: whatever a person or the model wrote, the answer runs no quick
action, pings nobody, shows no image or link, and names the note it answers."""

from __future__ import annotations

from fakes import gitlab_markdown

from reviewer.gitlab.markdown import help_reply, reply
from reviewer.gitlab.markers import answers

HOSTILE = "Sure.\n/approve\n  /merge\n@all ![x](https://evil.example/a.png) <img src=x> [c](javascript:x)"


def _acts(body: str) -> list[str]:
    return [
        *gitlab_markdown.quick_actions(body),
        *gitlab_markdown.command_lines(body),
        *gitlab_markdown.unsafe_markup(body),
    ]


def test_an_answer_built_from_hostile_text_cannot_act() -> None:
    body = reply(42, HOSTILE).text
    assert _acts(body) == []
    assert "Sure." in body and "image removed" in body and "evil.example" not in body
    assert answers(body, 42) and not answers(body, 4)


def test_help_shows_commands_as_code_and_numbers_the_rules() -> None:
    body = help_reply(
        7,
        [("/ai-review full", "review it all again"), ("/ai-review remember <rule>", "a rule")],
        [("team", "payments"), ("aspects", "security")],
        ["use db.q()", "/close\nthis"],
    ).text
    assert _acts(body) == []
    assert "- `/ai-review full`: review it all again" in body
    assert "1. use db.q()" in body and "2. \\/close this" in body
    assert answers(body, 7)
