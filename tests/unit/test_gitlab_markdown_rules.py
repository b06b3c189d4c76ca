"""The GitLab stand-in's reading of a note (tests/fakes/gitlab_markdown.py): GitLab's quick-action
extractor rule by rule, and what a bot's note must not hold. The property tests trust these."""

from __future__ import annotations

import pytest
from fakes.gitlab_markdown import command_lines, quick_actions, unsafe_markup


@pytest.mark.parametrize(
    ("body", "commands"),
    [
        ("/approve", ["approve"]),
        ("Looks good\n/close\nthanks", ["close"]),
        ("/assign @alice @bob\n", ["assign @alice @bob"]),
        ("/APPROVE", ["approve"]),  # names are matched case-insensitively
        ("a\r\n/merge", ["merge"]),  # \r is deleted first
        ("a\r/merge", []),  # ... so a lone \r joins the lines
        ("/usr/bin/env python", []),  # a command is followed by a space or the line's end
        (" /close", []),  # only at the very start of a line
        ("\\/close", []),
        ("```\n/close\n```", []),  # a fenced block
        ("```\n/close\n````", []),  # not a closed block, but see the next rule
        ("`a\n/close\nb`", []),  # from a line holding a backtick to a later line ending with one
        ("`a` b\n/close\nc", ["close"]),  # a closed span shields nothing after it
        ("/close\nlater `x`", []),  # a later line ending with a backtick shields every line before
        ("x\n/close\n`y` z", ["close"]),  # ... only one that ends with it
        ("<details>\n/close\n</details>", []),  # an HTML block
        (">>>\n/close\n>>>", []),  # a quote block
        ("> /close", []),
    ],
)
def test_the_extractor_runs_what_gitlab_runs(body: str, commands: list[str]) -> None:
    assert quick_actions(body) == commands


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        ("`a\n/close\nb`", ["/close"]),  # the markdown reading: a broken span shields nothing
        ("  /close", ["/close"]),
        ("```\n/close\n```", []),
        ("~~~~\n/close\n~~~\n~~~~", []),  # a fence closes only with one as long
        ("```\n```python\n/close\n```", []),  # a fence line with an info string closes none
        ("```\n```\n/close", ["/close"]),
        ("\\/close", []),
    ],
)
def test_command_lines_are_every_line_outside_fences_that_starts_with_a_slash_word(
    body: str, lines: list[str]
) -> None:
    assert command_lines(body) == lines


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("hi @alice", "mention"),
        ("`x`@alice", "mention"),  # after a code span, a new word starts
        ("&#64;alice", "mention"),  # entities are decoded before references are found
        ("\\@alice", "mention"),
        ("![x](https://e.x/i.png)", "image"),
        ("<img src=x>", "raw HTML"),
        ("<!-- hidden -->", "raw HTML"),
        ("[x](javascript:alert(1))", "link to"),
        ("[x]: ftp://e.x", "link to"),
        ("go to ftp://e.x", "ftp:// link"),
        ("mail bob@example.com", "e-mail link"),
    ],
)
def test_unsafe_markup_is_found(body: str, problem: str) -> None:
    found = unsafe_markup(body)
    assert any(p.startswith(problem) for p in found), found


@pytest.mark.parametrize(
    "body",
    [
        "`@alice` and ``a`b`` and `bob@example.com`",
        "```\n@alice <img> ftp://x\n```",
        "\\[x\\](javascript:x) and \\!\\[i\\](y) and &lt;img&gt;",
        "<!-- ai-review summary -->\n<details><summary>x</summary>\n</details>\n<sub>s</sub>",
        "<!-- ai-review fp=0123abcd code=89ef0123 -->",
        "<!-- ai-review fp=0123abcd code=89ef0123 sev=high aspect=security -->",
        "see [docs](https://docs.example) and https://e.x and www.e.x",
        "mail bob (at) example",
    ],
)
def test_code_escapes_the_bots_own_tags_and_https_links_are_fine(body: str) -> None:
    assert unsafe_markup(body) == []


def test_a_bots_links_may_point_only_to_notes_of_its_merge_request() -> None:
    mine = "https://gitlab.example/group/app/-/merge_requests/7#note_"
    assert unsafe_markup(f"see [thread]({mine}42)", links_to=mine) == []
    for target in (
        "https://evil.example/x",
        f"{mine}42/../x",
        "https://gitlab.example/group/app/-/merge_requests/8#note_1",
    ):
        (problem,) = unsafe_markup(f"see [thread]({target})", links_to=mine)
        assert "not to a note of this MR" in problem
