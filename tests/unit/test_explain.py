"""The part of a diff an explanation stands on."""

from __future__ import annotations

import pytest

from reviewer.diff.parsing import parse_unified
from reviewer.errors import ReviewerError
from reviewer.review.explain import finding_context
from reviewer.review.findings import Side

DIFF = (
    "--- a/app.py\n+++ b/app.py\n"
    "@@ -1,3 +1,3 @@\n def a():\n-    return 1\n+    return 2\n \n"
    "@@ -40,2 +40,3 @@ def b():\n     x = 1\n+    y = 2\n     return x\n"
    "--- a/other.py\n+++ b/other.py\n@@ -1 +1 @@\n-old\n+new\n"
)


def test_the_hunk_holding_the_line_on_its_side() -> None:
    files = parse_unified(DIFF)
    near_b = finding_context(files, "app.py", 41)
    assert "41 +     y = 2" in near_b and "return 2" not in near_b and "other.py" not in near_b
    removed = finding_context(files, "app.py", 2, Side.OLD)
    assert "2 -     return 1" in removed and "y = 2" not in removed


def test_a_line_outside_every_hunk_gets_the_whole_file() -> None:
    text = finding_context(parse_unified(DIFF), "app.py", 100)
    assert "return 2" in text and "y = 2" in text


def test_a_path_not_in_the_diff_is_a_clear_error() -> None:
    expected = r"nope\.py is not a file of the diff \(its files: app\.py, other\.py\)"
    with pytest.raises(ReviewerError, match=expected):
        finding_context(parse_unified(DIFF), "nope.py", 1)
