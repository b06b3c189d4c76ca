"""reviewer.diff.positions: which line a finding anchors to, and the GitLab position for it."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

import pytest
from fakes.gitlab_rules import check_position
from fakes.gitlab_rules import line_code as rules_line_code
from fakes.gitlab_rules import line_codes as rules_line_codes

from reviewer.diff.parsing import WITHHELD, DiffRefs, parse_gitlab_diffs
from reviewer.diff.positions import (
    NO_CHANGED_LINES,
    NOT_IN_DIFF,
    Inline,
    InSummary,
    LineIndex,
    LinePoint,
    Position,
    line_code,
)
from reviewer.gitlab.client import position_payload
from reviewer.review.findings import Side

REFS = DiffRefs(base_sha="b" * 40, start_sha="s" * 40, head_sha="h" * 40)


def _entry(old_path: str, new_path: str | None = None, diff: str = "", **flags: Any) -> dict[str, Any]:
    return {
        "old_path": old_path,
        "new_path": new_path or old_path,
        "diff": diff,
        "new_file": False,
        "renamed_file": new_path is not None,
        "deleted_file": False,
        "a_mode": "100644",
        "b_mode": "100644",
        **flags,
    }


ENTRIES = [
    # hunk 1: new 1..4, old 1..4; hunk 2: new 10..13, old 10..12
    _entry(
        "app/db.py",
        diff="@@ -1,4 +1,4 @@\n a = 1\n-b = 2\n+b = 3\n c = 4\n d = 5\n@@ -10,3 +10,4 @@\n x\n+y\n z\n w\n",
    ),
    _entry("new.py", diff="@@ -0,0 +1,3 @@\n+one\n+two\n+three\n", new_file=True),
    _entry("gone.py", diff="@@ -1,2 +0,0 @@\n-old1\n-old2\n", deleted_file=True),
    _entry("lib/old_name.py", "lib/new_name.py", "@@ -5,3 +5,3 @@\n ctx\n-before\n+after\n ctx2\n"),
    _entry("moved.txt", "moved/again.txt"),
    _entry("logo.png", diff="Binary files a/logo.png and b/logo.png differ\n"),
    _entry("big.sql", too_large=True),
]
FILES = parse_gitlab_diffs(ENTRIES)


def sha(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()


DB, NEW, GONE, RENAMED = sha("app/db.py"), sha("new.py"), sha("gone.py"), sha("lib/new_name.py")


def new_point(code: str, new: int, old: int | None = None) -> LinePoint:
    return LinePoint(code, "new", old, new)


def old_point(code: str, old: int) -> LinePoint:
    return LinePoint(code, "old", old, None)


# The line codes below are worked by hand with GitLab's counters (Gitlab::Diff::Parser): both start
# at the hunk header's numbers; "+" advances new, "-" advances old, " " both. An added line's code
# carries the old counter, a removed line's the new one.
#   app/db.py hunk 1: " a" (1,1) -> old 2 new 2; "-b = 2" old 2, new counter 2 -> _2_2;
#     old 3 new 2: "+b = 3" -> _3_2; " c" (3,3); " d" (4,4).
#   app/db.py hunk 2: " x" (10,10); "+y": old counter 11, new 11 -> _11_11; " z" (11,12); " w" (12,13).
#   new.py "@@ -0,0": old counter stays 0 -> _0_1, _0_2, _0_3.  gone.py "+0,0": -> _1_0, _2_0.
#   lib/new_name.py (hashed by its new path): " ctx" (5,5); "-before" old 6, new 6 -> _6_6;
#     "+after": old 7, new 6 -> _7_6.
NS, OS, P = Side.NEW, Side.OLD, "app/db.py"  # new side, old side
CASES = [
    # id, path, line, side, end_line, (old_line, new_line, start, end, moved) or the summary reason
    ("added", P, 2, NS, None, (None, 2, new_point(f"{DB}_3_2", 2), None, False)),
    ("removed", P, 2, OS, None, (2, None, old_point(f"{DB}_2_2", 2), None, False)),
    ("context-by-new-number", P, 12, NS, None, (11, 12, new_point(f"{DB}_11_12", 12, 11), None, False)),
    ("context-by-old-number", P, 12, OS, None, (12, 13, new_point(f"{DB}_12_13", 13, 12), None, False)),
    ("added-second-hunk", P, 11, NS, None, (None, 11, new_point(f"{DB}_11_11", 11), None, False)),
    ("outside-moved-to-nearer-hunk", P, 8, NS, None, (10, 10, new_point(f"{DB}_10_10", 10, 10), None, True)),
    ("outside-tie-prefers-earlier-hunk", P, 7, NS, None, (4, 4, new_point(f"{DB}_4_4", 4, 4), None, True)),
    ("outside-after-last-hunk", P, 18, NS, None, (12, 13, new_point(f"{DB}_12_13", 13, 12), None, True)),
    ("outside-too-far", P, 19, NS, None, "line 19 is outside the diff"),
    ("outside-too-far-old-side", P, 40, OS, None, "line 40 is outside the diff"),
    ("range", P, 1, NS, 3, (3, 3, new_point(f"{DB}_1_1", 1, 1), new_point(f"{DB}_3_3", 3, 3), False)),
    (
        "range-crossing-hunk-end-is-shortened",
        P,
        3,
        NS,
        11,
        (4, 4, new_point(f"{DB}_3_3", 3, 3), new_point(f"{DB}_4_4", 4, 4), False),
    ),
    (
        "range-on-old-side-ends-on-removed-line",
        P,
        1,
        OS,
        2,
        (2, None, new_point(f"{DB}_1_1", 1, 1), old_point(f"{DB}_2_2", 2), False),
    ),
    ("range-end-before-start-is-one-line", P, 3, NS, 1, (3, 3, new_point(f"{DB}_3_3", 3, 3), None, False)),
    ("new-file", "new.py", 2, NS, None, (None, 2, new_point(f"{NEW}_0_2", 2), None, False)),
    (
        "new-file-range",
        "new.py",
        1,
        NS,
        9,
        (None, 3, new_point(f"{NEW}_0_1", 1), new_point(f"{NEW}_0_3", 3), False),
    ),
    ("deleted-file", "gone.py", 2, OS, None, (2, None, old_point(f"{GONE}_2_0", 2), None, False)),
    ("deleted-file-by-new-side", "gone.py", 2, NS, None, (2, None, old_point(f"{GONE}_2_0", 2), None, True)),
    ("new-file-by-old-side", "new.py", 3, OS, None, (None, 3, new_point(f"{NEW}_0_3", 3), None, True)),
    ("renamed-added", "lib/new_name.py", 6, NS, None, (None, 6, new_point(f"{RENAMED}_7_6", 6), None, False)),
    (
        "renamed-removed-by-old-path",
        "lib/old_name.py",
        6,
        OS,
        None,
        (6, None, old_point(f"{RENAMED}_6_6", 6), None, False),
    ),
    ("stray-b-prefix", "b/new.py", 1, NS, None, (None, 1, new_point(f"{NEW}_0_1", 1), None, False)),
    ("leading-dot-slash", "./new.py", 3, NS, None, (None, 3, new_point(f"{NEW}_0_3", 3), None, False)),
    ("renamed-without-edits", "moved/again.txt", 1, NS, None, NO_CHANGED_LINES),
    ("binary", "logo.png", 1, NS, None, "binary file"),
    ("too-large", "big.sql", 1, NS, None, WITHHELD),
    ("unknown-path", "app/nope.py", 1, NS, None, NOT_IN_DIFF),
]


@pytest.mark.parametrize(
    ("path", "line", "side", "end_line", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_place(path: str, line: int, side: Side, end_line: int | None, expected: Any) -> None:
    placement = LineIndex(FILES, REFS).place(path, line, side, end_line)
    if isinstance(expected, str):
        assert placement == InSummary(expected)
        return
    old_line, new_line, start, end, moved = expected
    assert isinstance(placement, Inline)
    file = next(f for f in FILES if path.lstrip("./").removeprefix("b/") in (f.old_path, f.new_path))
    expected_position = Position(REFS, file.old_path, file.new_path, old_line, new_line, start, end or start)
    assert placement.position == expected_position
    assert (placement.requested_line, placement.moved) == (line, moved)
    assert check_position(ENTRIES, asdict(REFS), payload(placement.position)) is None


payload = position_payload  # the real converter, as the publisher sends it


def test_anchored_lines_are_those_on_the_findings_side() -> None:
    index = LineIndex(FILES, REFS)
    new_side = index.place("app/db.py", 1, Side.NEW, 3)
    old_side = index.place("app/db.py", 1, Side.OLD, 3)
    assert isinstance(new_side, Inline) and isinstance(old_side, Inline)
    assert [ln.text for ln in new_side.lines] == ["a = 1", "b = 3", "c = 4"]
    assert [ln.text for ln in old_side.lines] == ["a = 1", "b = 2", "c = 4"]


def test_every_line_code_matches_gitlabs_parser() -> None:
    index = LineIndex(FILES, REFS)
    for item, file in zip(ENTRIES, FILES, strict=True):
        codes = set(rules_line_codes(item))
        ours = set()
        for hunk in file.hunks:
            for ln in hunk.lines:
                side, number = (Side.OLD, ln.old_no) if ln.new_no is None else (Side.NEW, ln.new_no)
                assert number is not None
                placed = index.place(file.path, number, side)
                assert isinstance(placed, Inline) and not placed.moved
                ours.add(placed.position.start.line_code)
        assert ours == codes, file.path


def test_line_code_is_sha1_of_path_then_old_then_new() -> None:
    assert line_code("app/db.py", 3, 2) == f"{DB}_3_2" == rules_line_code("app/db.py", 3, 2)


@pytest.mark.parametrize(
    ("path", "line", "side", "expected"),
    [
        ("app/db.py", 2, Side.NEW, True),
        ("app/db.py", 2, Side.OLD, True),
        ("app/db.py", 5, Side.NEW, False),
        ("app/db.py", 13, Side.OLD, False),
        ("new.py", 1, Side.OLD, False),
        ("logo.png", 1, Side.NEW, False),
        ("nope", 1, Side.NEW, False),
        ("a/gone.py", 1, Side.OLD, True),
    ],
)
def test_is_commentable(path: str, line: int, side: Side, expected: bool) -> None:
    assert LineIndex(FILES, REFS).is_commentable(path, line, side) is expected


def test_side_may_be_given_as_its_string() -> None:
    assert LineIndex(FILES, REFS).place("app/db.py", 2, "old", None) == LineIndex(FILES, REFS).place(  # type: ignore[arg-type]
        "app/db.py", 2, Side.OLD
    )


def test_a_path_some_file_has_now_wins_over_a_former_path() -> None:
    files = parse_gitlab_diffs(
        [_entry("a.py", "b.py", "@@ -1 +1 @@\n-x\n+y\n"), _entry("c.py", "a.py", "@@ -1 +1 @@\n-p\n+q\n")]
    )
    placed = LineIndex(files, REFS).place("a.py", 1, Side.NEW)
    assert isinstance(placed, Inline) and placed.lines[0].text == "q"


def test_lines_of_and_file() -> None:
    index = LineIndex(FILES, REFS)
    assert [ln.text for ln in index.lines_of("gone.py")] == ["old1", "old2"]
    assert index.lines_of("nope") == ()
    assert index.file("lib/old_name.py") is index.file("lib/new_name.py") is FILES[3]
