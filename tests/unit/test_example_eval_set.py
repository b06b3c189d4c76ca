"""examples/eval: every case loads, its diff parses whole, and every expected finding sits on a line
its file's diff shows on the side it names, so that the set cannot rot as the parser changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewer.diff.parsing import FileDiff, LineKind, parse_unified
from reviewer.review.evaluation import Case, load_cases

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "eval"
CASES = load_cases(EXAMPLES)


def commentable(file: FileDiff, side: str) -> set[int]:
    """Line numbers a finding may name: added and unchanged lines (new side), removed and unchanged
    lines (old side)."""
    wanted = LineKind.ADDED if side == "new" else LineKind.REMOVED
    numbers = (
        line.new_no if side == "new" else line.old_no
        for hunk in file.hunks
        for line in hunk.lines
        if line.kind in (wanted, LineKind.CONTEXT)
    )
    return {n for n in numbers if n is not None}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_case_parses_and_expects_findings_on_lines_of_its_diff(case: Case) -> None:
    files = {file.path: file for file in parse_unified(case.diff)}

    assert files and all(file.hunks and not file.not_reviewed for file in files.values())
    assert case.title
    for expected in case.expected:
        assert expected.path in files, f"{expected.path} is not a file of {case.name}.diff"
        assert expected.side in ("new", "old") and expected.aspect in (None, "security", "style")
        assert expected.line in commentable(files[expected.path], expected.side)


def test_the_set_has_about_twenty_cases_five_of_them_clean() -> None:
    clean = [case.name for case in CASES if not case.expected]
    assert len(CASES) >= 20 and len(clean) >= 5
    assert all(name.startswith("clean_") for name in clean)
    aspects = {e.aspect for case in CASES for e in case.expected}
    assert aspects == {"security", "style"}
