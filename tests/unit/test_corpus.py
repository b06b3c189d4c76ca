"""Every diff of the shared corpus goes through parse_unified and LineIndex: parsed or refused, never a crash.

What parses is checked against unidiff's own numbering, and every line it yields must be placed inline
on itself. Files are read as bytes: text mode's universal newlines would split a line at a lone CR.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from unidiff import PatchSet
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchedFile

from reviewer.diff.parsing import DiffParseError, FileDiff, FileStatus, LineKind, parse_unified
from reviewer.diff.positions import Inline, LineIndex
from reviewer.review.findings import Side

CORPUS = Path(__file__).parents[3] / "shared" / "corpus"
if not CORPUS.is_dir():
    pytest.skip(f"the shared corpus is not beside the checkout ({CORPUS})", allow_module_level=True)

PATHS = [
    *sorted(p for p in (CORPUS / "diffs").rglob("*") if p.is_file()),
    *sorted((CORPUS / "secrets").glob("*.diff")),
]
REFS_ARGS = ("base" * 10, "start" * 8, "head" * 10)
_KIND = {"+": LineKind.ADDED, "-": LineKind.REMOVED, " ": LineKind.CONTEXT}


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def lines(text: str) -> list[str]:
    return list(io.StringIO(text, newline="\n"))  # split on "\n" only, like git


def reference(text: str, count: int) -> list[PatchedFile | None]:
    """unidiff's reading of each file: per ``diff --git`` section when there are any, else whole."""
    all_lines = lines(text)
    starts = [i for i, ln in enumerate(all_lines) if ln.startswith("diff --git ")]
    if not starts:
        patch = PatchSet(all_lines)
        assert len(patch) == count
        return list(patch)
    found: list[PatchedFile | None] = []
    for start, end in zip(starts, [*starts[1:], len(all_lines)], strict=True):
        try:
            section = PatchSet(all_lines[start:end])
        except UnidiffParseError:
            found.append(None)
            continue
        found.append(section[0] if len(section) == 1 else None)
    return found


def numbered(file: FileDiff) -> list[tuple[LineKind, int | None, int | None, str]]:
    return [(ln.kind, ln.old_no, ln.new_no, ln.text) for h in file.hunks for ln in h.lines]


def unidiff_numbered(patched: PatchedFile) -> list[tuple[LineKind, int | None, int | None, str]]:
    return [
        (_KIND[ln.line_type], ln.source_line_no, ln.target_line_no, ln.value.rstrip("\n").removesuffix("\r"))
        for h in patched
        for ln in h
        if ln.line_type in _KIND
    ]


@pytest.mark.parametrize("path", PATHS, ids=[str(p.relative_to(CORPUS)) for p in PATHS])
def test_corpus_file_parses_and_places_or_is_refused(path: Path) -> None:
    text = read(path)
    try:
        files = parse_unified(text)
    except DiffParseError as exc:
        assert str(exc)
        return
    assert files
    for ours, theirs in zip(files, reference(text, len(files)), strict=True):
        if theirs is not None and not ours.not_reviewed:
            assert numbered(ours) == unidiff_numbered(theirs), ours.path
            assert [(h.old_start, h.old_len, h.new_start, h.new_len) for h in ours.hunks] == [
                (h.source_start, h.source_length, h.target_start, h.target_length) for h in theirs
            ]
    assert_every_line_is_placed_on_itself(files)


def assert_every_line_is_placed_on_itself(files: list[FileDiff]) -> None:
    from reviewer.diff.parsing import DiffRefs

    index = LineIndex(files, DiffRefs(*REFS_ARGS))
    for file in files:
        if file.not_reviewed or file.is_binary:
            continue
        for hunk in file.hunks:
            for ln in hunk.lines:
                lookups = [(Side.NEW, ln.new_no), (Side.OLD, ln.old_no)]
                for side, number in ((s, n) for s, n in lookups if n is not None):
                    placed = index.place(file.path, number, side)
                    assert isinstance(placed, Inline) and not placed.moved, (file.path, side, number)
                    assert placed.lines == (ln,)
                    assert (placed.position.old_line, placed.position.new_line) == (ln.old_no, ln.new_no)


def parsed(name: str) -> list[FileDiff]:
    return parse_unified(read(CORPUS / "diffs" / name))


def test_git_rename_follows_the_rename_lines() -> None:
    files = parsed("unidiff/git_rename.diff")
    assert [(f.status, f.old_path, f.new_path, len(f.hunks)) for f in files] == [
        (FileStatus.RENAMED, "added", "moved", 1),
        (FileStatus.RENAMED, "oldfile", "newfile", 1),
        # this sample's "rename from onefile" disagrees with its "diff --git a/sub/onefile ...";
        # git apply trusts the rename lines, and so does the parser
        (FileStatus.RENAMED, "onefile", "otherfile", 0),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("unidiff/binary.diff", [(FileStatus.ADDED, "1x1.png", True)]),
        ("whatthepatch/git-binary-files.diff", [(FileStatus.ADDED, "project/media/i/asc.gif", True)]),
        (
            "whatthepatch/git-bin.patch",
            [
                (FileStatus.ADDED, "fox.bin", True),
                (FileStatus.MODIFIED, "fox.txt", False),
                (FileStatus.ADDED, "lorem.bin", True),
                (FileStatus.MODIFIED, "lorem.zip", True),
            ],
        ),
        (
            "unidiff/sample8.diff",
            [
                (FileStatus.ADDED, "boo.bin", False),
                (FileStatus.ADDED, "foo.bin", True),
                (FileStatus.MODIFIED, "bar.bin", True),
                (FileStatus.DELETED, "baz.bin", True),
                (FileStatus.ADDED, "fuz.bin", False),
            ],
        ),
    ],
)
def test_binary_files(name: str, expected: list[tuple[FileStatus, str, bool]]) -> None:
    assert [(f.status, f.path, f.is_binary) for f in parsed(name)] == expected


def test_crlf_files_keep_their_line_counts() -> None:
    (cr,) = parsed("unidiff/git_cr.diff")
    assert (cr.added_lines, cr.hunks[0].new_len) == (3, 3)  # a lone CR inside a line does not split it
    assert cr.hunks[0].lines[0].text.startswith(' "This line is broken into two lines by CR. " +\r\t\t"but')
    crlf = {f.path: f for f in parsed("unidiff/sample4.diff")}
    assert (crlf["modified_file"].added_lines, crlf["modified_file"].removed_lines) == (3, 1)
    assert [ln.text for ln in crlf["removed_file"].hunks[0].lines] == [
        "This content shouldn't be here.",
        "",
        "This file will be removed.",
    ]
    (mixed,) = parsed("whatthepatch/svn-mixed_line_ends.patch")
    assert (len(mixed.hunks), mixed.added_lines, mixed.removed_lines) == (5, 71, 35)


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("unidiff/git_quoted_filename.diff", "A \u00e2 B.py"),
        ("unidiff/git_quoted_filename_with_spaces.diff", "docs/develop/Bug \u6392\u67e5.md"),
        ("unidiff/git_filenames_with_spaces.diff", "has spaces/t.sql"),
    ],
)
def test_quoted_and_spaced_names_decode(name: str, path: str) -> None:
    (file,) = parsed(name)
    assert (file.old_path, file.new_path) == (path, path)


def test_no_prefix_diff_keeps_paths_as_written() -> None:
    assert [(f.status, f.path) for f in parsed("unidiff/git_no_prefix.diff")] == [
        (FileStatus.DELETED, "file1"),
        (FileStatus.MODIFIED, "file2"),
        (FileStatus.ADDED, "file3"),
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("whatthepatch/diff-context.diff", "context diff"),
        ("whatthepatch/svn-context.patch", "context diff"),
        ("whatthepatch/diff-default.diff", "normal diff"),
        ("whatthepatch/diff-ed.diff", "ed script"),
        ("whatthepatch/diff-rcs.diff", "RCS diff"),
        ("whatthepatch/lao", "no unified diff found"),
        ("unidiff/sample6.diff", "more lines than its @@ header"),
        ("unidiff/sample7.diff", "fewer lines than its @@ header"),
    ],
)
def test_refused_with_a_clear_reason(name: str, message: str) -> None:
    with pytest.raises(DiffParseError, match=message):
        parsed(name)


def test_truncated_file_of_a_git_diff_is_marked_and_the_rest_kept() -> None:
    first, cut = parsed("unidiff/sample2.diff")
    assert (first.not_reviewed, len(first.hunks)) == (None, 1)
    assert cut.path == "js/src/jsfriendapi.cpp" and cut.not_reviewed and "fewer lines" in cut.not_reviewed


def test_secrets_sample_keeps_its_added_lines() -> None:
    files = parse_unified(read(CORPUS / "secrets" / "detect-secrets-sample.diff"))
    assert sum(f.added_lines for f in files) == 6 and len(files) == 4
