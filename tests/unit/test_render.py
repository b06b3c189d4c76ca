"""reviewer.diff.render: the compact, numbered diff the model reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewer.diff.parsing import (
    DiffLine,
    DiffParseError,
    FileDiff,
    FileStatus,
    Hunk,
    LineKind,
    parse_unified,
)
from reviewer.diff.render import render_file, render_hunk
from reviewer.review.detectors.secrets import Masker

A, R, C = LineKind.ADDED, LineKind.REMOVED, LineKind.CONTEXT


def hunk(*lines: tuple[LineKind, str], old: int = 10, new: int = 20, section: str = "") -> Hunk:
    """A hunk from (kind, text) pairs, numbered from ``old``/``new`` as git would."""
    out, o, n = [], old, new
    for kind, text in lines:
        out.append(DiffLine(kind, o if kind is not A else None, n if kind is not R else None, text))
        o += kind is not A
        n += kind is not R
    return Hunk(old, o - old, new, n - new, tuple(out), section)


def modified(*hunks: Hunk, path: str = "app/db.py") -> FileDiff:
    return FileDiff(path, path, FileStatus.MODIFIED, hunks)


def test_added_and_unchanged_lines_carry_new_numbers_and_removed_lines_old_numbers() -> None:
    h = hunk((C, "rows = query(id)"), (R, "return None"), (A, "return []"), (C, "# end"), old=17, new=41)

    assert render_file(modified(h)) == (
        "## app/db.py\n@@\n41   rows = query(id)\n18 - return None\n42 + return []\n43   # end\n"
    )


def test_the_enclosing_function_git_named_follows_the_hunk_marker() -> None:
    h = hunk((A, "x = 1"), section=" def load(user_id):  ")

    assert render_hunk(h).splitlines()[0] == "@@ def load(user_id):"


def test_blank_lines_show_their_number_and_mark_only() -> None:
    h = hunk((C, ""), (R, ""), (A, ""), old=5, new=5)

    assert render_hunk(h).splitlines()[1:] == ["5", "6 -", "6 +"]


@pytest.mark.parametrize(
    ("file", "header"),
    [
        (FileDiff("a.py", "a.py", FileStatus.MODIFIED), "## a.py"),
        (FileDiff("old/a.py", "new/a.py", FileStatus.RENAMED), "## new/a.py (renamed from old/a.py)"),
        (FileDiff("a.py", "a.py", FileStatus.ADDED), "## a.py (new file)"),
        (FileDiff("gone.py", "gone.py", FileStatus.DELETED), "## gone.py (deleted)"),
    ],
)
def test_the_file_header_says_renamed_new_or_deleted(file: FileDiff, header: str) -> None:
    assert render_file(file) == header + "\n"


def test_unchanged_lines_are_trimmed_to_the_context_around_changes() -> None:
    lines = [(C, f"c{i}") for i in range(8)] + [(A, "new")] + [(C, f"d{i}") for i in range(8)]
    lines += [(R, "old")] + [(C, f"e{i}") for i in range(8)]
    text = render_hunk(hunk(*lines, old=1, new=1), context=2)

    assert text == (
        "@@\n7   c6\n8   c7\n9 + new\n10   d0\n11   d1\n@@\n16   d6\n17   d7\n17 - old\n18   e0\n19   e1\n"
    )


def test_nearby_changes_share_one_run_of_lines() -> None:
    h = hunk((A, "a"), (C, "1"), (C, "2"), (C, "3"), (C, "4"), (C, "5"), (C, "6"), (A, "b"), old=1, new=1)

    assert "@@\n" not in render_hunk(h, context=3)[3:]
    assert render_hunk(h, context=2).count("@@") == 2


def test_a_hunk_without_changes_renders_as_nothing() -> None:
    assert render_hunk(hunk((C, "a"), (C, "b"))) == ""


def test_line_breaks_inside_a_line_are_escaped_so_each_diff_line_stays_one_line() -> None:
    h = hunk((A, "a\rb"), (A, "c\u2028d"), (A, "e\x0cf"), old=1, new=1)
    text = render_hunk(h)

    assert text.splitlines() == ["@@", "1 + a\\rb", "2 + c\\u2028d", "3 + e\\ff"]


def test_control_characters_in_paths_cannot_forge_a_header() -> None:
    file = FileDiff("x.py\n## y.py", "x.py\n## y.py", FileStatus.ADDED, (hunk((A, "1")),))

    assert render_file(file).splitlines()[0] == "## x.py\\u000a## y.py (new file)"


def test_only_the_hunks_given_are_rendered() -> None:
    first, second = hunk((A, "one"), old=1, new=1), hunk((A, "two"), old=50, new=50)

    text = render_file(modified(first, second), hunks=[second])

    assert "two" in text and "one" not in text


def test_the_masker_runs_over_the_finished_text() -> None:
    secret = "sk_" + "9f8e7d6c5b4a" * 3
    h = hunk((A, f'KEY = "{secret}"'), old=1, new=1)

    text = render_file(modified(h), masker=Masker([secret]))

    assert secret not in text
    assert '1 + KEY = "[REDACTED]"' in text


def test_every_changed_line_of_the_unidiff_samples_is_rendered_once(corpus: Path) -> None:
    for sample in sorted((corpus / "diffs" / "unidiff").glob("*.diff")):
        try:
            files = parse_unified(sample.read_text(encoding="utf-8", errors="replace"))
        except DiffParseError:  # formats the parser refuses are its tests' business
            continue
        for file in files:
            text = render_file(file)
            changed = [
                f"{ln.new_no if ln.kind is A else ln.old_no} {'+' if ln.kind is A else '-'}"
                for h in file.hunks
                for ln in h.lines
                if ln.kind is not C
            ]
            rendered = [line for line in text.splitlines() if line.split(" ", 2)[1:2] in (["+"], ["-"])]
            assert [" ".join(line.split(" ", 2)[:2]) for line in rendered] == changed, sample.name
