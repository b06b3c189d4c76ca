"""reviewer.diff.parsing: GitLab's per-file diffs and whole unified diffs into FileDiff/Hunk/DiffLine."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewer.diff.parsing import (
    BINARY,
    WITHHELD,
    DiffParseError,
    FileDiff,
    FileStatus,
    parse_gitlab_diffs,
    parse_unified,
)
from reviewer.errors import ReviewerError

Row = tuple[str, int | None, int | None, str]  # (" ", "+" or "-", old_no, new_no, text)
_SIGN = {"added": "+", "removed": "-", "context": " "}


def rows(file: FileDiff) -> list[list[Row]]:
    return [[(_SIGN[ln.kind], ln.old_no, ln.new_no, ln.text) for ln in hunk.lines] for hunk in file.hunks]


def entry(old_path: str, new_path: str | None = None, diff: str = "", **flags: Any) -> dict[str, Any]:
    """A GitLab ``/merge_requests/:iid/diffs`` item."""
    new_file, deleted = flags.get("new_file", False), flags.get("deleted_file", False)
    return {
        "old_path": old_path,
        "new_path": new_path or old_path,
        "a_mode": "0" if new_file else "100644",
        "b_mode": "0" if deleted else "100644",
        "diff": diff,
        "new_file": new_file,
        "renamed_file": False,
        "deleted_file": deleted,
        "generated_file": False,
        "too_large": False,
        "collapsed": False,
        **flags,
    }


def only(files: list[FileDiff]) -> FileDiff:
    assert len(files) == 1, files
    return files[0]


# -- the shapes, as GitLab sends them ----------------------------------------------------------

MODIFIED = (
    "@@ -1,4 +1,4 @@ def main():\n a = 1\n-b = 2\n+b = 3\n c = 4\n d = 5\n@@ -10,3 +10,4 @@\n x\n+y\n z\n w\n"
)
RENAMED = "@@ -5,3 +5,3 @@\n ctx\n-before\n+after\n tail\n"
ONE_CHANGE = "@@ -1 +1 @@\n-a\n+b\n"
ONE_CHANGE_ROWS = [[("-", 1, None, "a"), ("+", None, 1, "b")]]
MODIFIED_ROWS = [
    [
        (" ", 1, 1, "a = 1"),
        ("-", 2, None, "b = 2"),
        ("+", None, 2, "b = 3"),
        (" ", 3, 3, "c = 4"),
        (" ", 4, 4, "d = 5"),
    ],
    [(" ", 10, 10, "x"), ("+", None, 11, "y"), (" ", 11, 12, "z"), (" ", 12, 13, "w")],
]


def test_modified_file_numbers_every_line_by_kind() -> None:
    file = only(parse_gitlab_diffs([entry("app/db.py", diff=MODIFIED)]))
    assert (file.status, file.old_path, file.new_path) == (FileStatus.MODIFIED, "app/db.py", "app/db.py")
    assert rows(file) == MODIFIED_ROWS
    ranges = [(h.old_start, h.old_len, h.new_start, h.new_len) for h in file.hunks]
    assert ranges == [(1, 4, 1, 4), (10, 3, 10, 4)]
    assert file.hunks[0].section == "def main():"
    assert (file.added_lines, file.removed_lines, file.not_reviewed) == (2, 1, None)


@pytest.mark.parametrize(
    ("item", "status", "old_path", "new_path", "expected"),
    [
        pytest.param(
            entry("new.py", diff="@@ -0,0 +1,2 @@\n+one\n+two\n", new_file=True),
            FileStatus.ADDED,
            "new.py",
            "new.py",
            [[("+", None, 1, "one"), ("+", None, 2, "two")]],
            id="added",
        ),
        pytest.param(
            entry("gone.py", diff="@@ -1,2 +0,0 @@\n-one\n-two\n", deleted_file=True),
            FileStatus.DELETED,
            "gone.py",
            "gone.py",
            [[("-", 1, None, "one"), ("-", 2, None, "two")]],
            id="deleted",
        ),
        pytest.param(
            entry("lib/old.py", "lib/new.py", RENAMED, renamed_file=True),
            FileStatus.RENAMED,
            "lib/old.py",
            "lib/new.py",
            [[(" ", 5, 5, "ctx"), ("-", 6, None, "before"), ("+", None, 6, "after"), (" ", 7, 7, "tail")]],
            id="renamed-with-edits",
        ),
        pytest.param(
            entry("a.txt", "b.txt", renamed_file=True),
            FileStatus.RENAMED,
            "a.txt",
            "b.txt",
            [],
            id="renamed-without-edits",
        ),
        pytest.param(
            entry("empty.txt", new_file=True),
            FileStatus.ADDED,
            "empty.txt",
            "empty.txt",
            [],
            id="empty-new-file",
        ),
        pytest.param(
            entry("docs/Bug 排查 notes.md", diff="@@ -1 +1 @@\n-old\n+new ü\n"),
            FileStatus.MODIFIED,
            "docs/Bug 排查 notes.md",
            "docs/Bug 排查 notes.md",
            [[("-", 1, None, "old"), ("+", None, 1, "new ü")]],
            id="non-ascii-path-with-spaces",
        ),
        pytest.param(
            entry("eof.txt", diff="@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"),
            FileStatus.MODIFIED,
            "eof.txt",
            "eof.txt",
            [[(" ", 1, 1, "a"), ("-", 2, None, "b"), ("+", None, 2, "b")]],
            id="no-newline-marker-mid-hunk",
        ),
        pytest.param(
            entry("eof2.txt", diff="@@ -1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n"),
            FileStatus.MODIFIED,
            "eof2.txt",
            "eof2.txt",
            [[(" ", 1, 1, "a"), ("+", None, 2, "b")]],
            id="no-newline-marker-at-end",
        ),
        pytest.param(
            entry("win.txt", diff="@@ -1,3 +1,3 @@\r\n a\r\n-b\r\n+c\r\n \r\n"),
            FileStatus.MODIFIED,
            "win.txt",
            "win.txt",
            [[(" ", 1, 1, "a"), ("-", 2, None, "b"), ("+", None, 2, "c"), (" ", 3, 3, "")]],
            id="crlf",
        ),
        pytest.param(
            entry("odd.txt", diff="@@ -1 +1 @@\n-x\ry\n+x\x0cy\u2028z\n"),
            FileStatus.MODIFIED,
            "odd.txt",
            "odd.txt",
            [[("-", 1, None, "x\ry"), ("+", None, 1, "x\x0cy\u2028z")]],
            id="lone-cr-form-feed-and-u2028-stay-inside-their-line",
        ),
    ],
)
def test_gitlab_shapes(
    item: dict[str, Any], status: FileStatus, old_path: str, new_path: str, expected: list[list[Row]]
) -> None:
    file = only(parse_gitlab_diffs([item]))
    assert (file.status, file.old_path, file.new_path) == (status, old_path, new_path)
    assert rows(file) == expected
    assert (file.is_binary, file.too_large, file.not_reviewed) == (False, False, None)


def test_mode_only_change_is_a_modified_file_without_hunks() -> None:
    file = only(parse_gitlab_diffs([entry("run.sh", b_mode="100755")]))
    assert (file.status, file.mode_changed, file.hunks) == (FileStatus.MODIFIED, True, ())


def test_added_and_deleted_files_are_no_mode_change() -> None:
    files = parse_gitlab_diffs([entry("a", diff="", new_file=True), entry("b", diff="", deleted_file=True)])
    assert [f.mode_changed for f in files] == [False, False]


@pytest.mark.parametrize(
    "text", ["Binary files a/logo.png and b/logo.png differ\n", "GIT binary patch\nliteral 5\n"]
)
def test_binary_file(text: str) -> None:
    file = only(parse_gitlab_diffs([entry("logo.png", diff=text)]))
    assert (file.is_binary, file.hunks, file.not_reviewed) == (True, (), BINARY)


@pytest.mark.parametrize("flag", ["too_large", "collapsed"])
def test_withheld_text_is_marked_too_large(flag: str) -> None:
    file = only(parse_gitlab_diffs([{**entry("huge.sql"), flag: True}]))
    assert (file.too_large, file.not_reviewed, file.hunks) == (True, WITHHELD, ())


def test_collapsed_file_whose_text_came_anyway_is_parsed() -> None:
    file = only(parse_gitlab_diffs([entry("big.py", diff=ONE_CHANGE, collapsed=True)]))
    assert (file.too_large, file.not_reviewed, rows(file)) == (False, None, ONE_CHANGE_ROWS)


def test_generated_flag_is_kept() -> None:
    assert only(parse_gitlab_diffs([entry("gen.pb.go", diff=ONE_CHANGE, generated_file=True)])).generated


def test_git_file_header_before_the_hunks_is_tolerated() -> None:
    text = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    assert rows(only(parse_gitlab_diffs([entry("x", diff=text)]))) == ONE_CHANGE_ROWS


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param("@@ -1,3 +1,3 @@\n a\n-b\n", "fewer lines", id="truncated"),
        pytest.param("@@ -1 +1 @@\n-a\n+b\n+c\n", "belongs to no hunk", id="longer-than-header"),
        pytest.param("@@ -1 +1 @@\n-a\n+b\njunk\n@@ -5 +5 @@\n-c\n+d\n", "Unexpected hunk", id="junk"),
        pytest.param("just some text\n", "belongs to no hunk", id="no-hunk"),
    ],
)
def test_unreadable_gitlab_text_marks_only_that_file(text: str, why: str) -> None:
    files = parse_gitlab_diffs([entry("bad.py", diff=text), entry("good.py", diff="@@ -1 +1 @@\n-a\n+b\n")])
    assert files[0].hunks == () and files[0].not_reviewed is not None
    assert files[0].not_reviewed.startswith("diff could not be parsed") and why in files[0].not_reviewed
    assert files[1].not_reviewed is None and len(files[1].hunks) == 1


def test_entry_without_paths_raises() -> None:
    with pytest.raises(DiffParseError, match="entry 2 has no old_path and new_path"):
        parse_gitlab_diffs([entry("ok.py"), {"diff": "@@ -1 +1 @@\n-a\n+b\n"}])
    assert issubclass(DiffParseError, ReviewerError)


# -- the same shapes as whole unified diffs ----------------------------------------------------

GIT_DIFF = (
    """\
diff --git a/app/db.py b/app/db.py
index 1111111..2222222 100644
--- a/app/db.py
+++ b/app/db.py
"""
    + MODIFIED
    + """\
diff --git a/new.py b/new.py
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/new.py
@@ -0,0 +1,2 @@
+one
+two
diff --git a/gone.py b/gone.py
deleted file mode 100644
index 4444444..0000000
--- a/gone.py
+++ /dev/null
@@ -1,2 +0,0 @@
-one
-two
\\ No newline at end of file
diff --git a/lib/old.py b/lib/new.py
similarity index 80%
rename from lib/old.py
rename to lib/new.py
index 5555555..6666666 100644
--- a/lib/old.py
+++ b/lib/new.py
@@ -5,3 +5,3 @@
 ctx
-before
+after
 tail
diff --git a/a.txt b/b.txt
similarity index 100%
rename from a.txt
rename to b.txt
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git a/logo.png b/logo.png
index 7777777..8888888 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/empty.txt b/empty.txt
new file mode 100644
index 0000000..e69de29
"""
)


def test_git_diff_every_shape() -> None:
    files = parse_unified(GIT_DIFF)
    summary = [(f.status, f.old_path, f.new_path, f.is_binary, f.mode_changed, len(f.hunks)) for f in files]
    assert summary == [
        (FileStatus.MODIFIED, "app/db.py", "app/db.py", False, False, 2),
        (FileStatus.ADDED, "new.py", "new.py", False, False, 1),
        (FileStatus.DELETED, "gone.py", "gone.py", False, False, 1),
        (FileStatus.RENAMED, "lib/old.py", "lib/new.py", False, False, 1),
        (FileStatus.RENAMED, "a.txt", "b.txt", False, False, 0),
        (FileStatus.MODIFIED, "run.sh", "run.sh", False, True, 0),
        (FileStatus.MODIFIED, "logo.png", "logo.png", True, False, 0),
        (FileStatus.ADDED, "empty.txt", "empty.txt", False, False, 0),
    ]
    assert rows(files[0]) == MODIFIED_ROWS
    assert rows(files[2]) == [[("-", 1, None, "one"), ("-", 2, None, "two")]]
    assert files[6].not_reviewed == BINARY


def test_gitlab_form_and_unified_form_agree() -> None:
    unified = parse_unified(GIT_DIFF)
    gitlab = parse_gitlab_diffs(
        [entry("app/db.py", diff=MODIFIED), entry("lib/old.py", "lib/new.py", RENAMED, renamed_file=True)]
    )
    assert gitlab[0] == unified[0]
    assert gitlab[1] == unified[3]


@pytest.mark.parametrize(
    ("text", "old_path", "new_path"),
    [
        pytest.param(
            'diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"\nindex 1..2 100644\n'
            '--- "a/caf\\303\\251.txt"\n+++ "b/caf\\303\\251.txt"\n@@ -1 +1 @@\n-a\n+b\n',
            "café.txt",
            "café.txt",
            id="quoted-octal-utf8",
        ),
        pytest.param(
            'diff --git "a/tab\\there \\"q\\".txt" "b/tab\\there \\"q\\".txt"\nindex 1..2 100644\n'
            "Binary files differ\n",
            'tab\there "q".txt',
            'tab\there "q".txt',
            id="quoted-c-escapes-binary-no-dash-lines",
        ),
        pytest.param(
            "diff --git a/has spaces/t.sql b/has spaces/t.sql\nnew file mode 100644\nindex 0..1\n"
            "--- /dev/null\n+++ b/has spaces/t.sql\t\n@@ -0,0 +1 @@\n+select 1;\n",
            "has spaces/t.sql",
            "has spaces/t.sql",
            id="spaces-with-git-trailing-tab",
        ),
        pytest.param(
            "diff --git a/my dir/f b.txt b/my dir/f b.txt\nold mode 100644\nnew mode 100755\n",
            "my dir/f b.txt",
            "my dir/f b.txt",
            id="spaces-header-only",
        ),
        pytest.param(
            "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",
            "x.py",
            "x.py",
            id="prefixed",
        ),
        pytest.param(
            "diff --git a/x.py a/x.py\nindex 1..2 100644\n--- a/x.py\n+++ a/x.py\n@@ -1 +1 @@\n-a\n+b\n",
            "a/x.py",
            "a/x.py",
            id="no-prefix-with-a-directory-named-a",
        ),
        pytest.param(
            "diff --git src/x.py src/x.py\nindex 1..2 100644\n--- src/x.py\n+++ src/x.py\n" + ONE_CHANGE,
            "src/x.py",
            "src/x.py",
            id="no-prefix",
        ),
        pytest.param(
            "diff --git i/x.py w/x.py\nindex 1..2 100644\n--- i/x.py\n+++ w/x.py\n@@ -1 +1 @@\n-a\n+b\n",
            "x.py",
            "x.py",
            id="mnemonic-prefix",
        ),
        pytest.param(
            'diff --git a/plain.txt "b/\\346\\226\\260.txt"\nsimilarity index 100%\n'
            'rename from plain.txt\nrename to "\\346\\226\\260.txt"\n',
            "plain.txt",
            "新.txt",
            id="rename-to-quoted-name",
        ),
    ],
)
def test_git_file_names(text: str, old_path: str, new_path: str) -> None:
    file = only(parse_unified(text))
    assert (file.old_path, file.new_path) == (old_path, new_path)


CRLF_DIFF = (
    "diff --git a/w.txt b/w.txt\r\nindex 1..2 100644\r\n--- a/w.txt\r\n+++ b/w.txt\r\n"
    "@@ -1,3 +1,3 @@ sect\r\n one\r\n-two\r\n+2\r\n \r\n"
)


def test_crlf_diff_keeps_every_line_and_drops_the_cr() -> None:
    file = only(parse_unified(CRLF_DIFF))
    assert (file.old_path, file.hunks[0].section) == ("w.txt", "sect")
    assert rows(file) == [[(" ", 1, 1, "one"), ("-", 2, None, "two"), ("+", None, 2, "2"), (" ", 3, 3, "")]]


FORMAT_PATCH = """\
From 62ea0eaf7e00170a8fca79f665442f9f44725956 Mon Sep 17 00:00:00 2001
From: Someone <someone@example.com>
Subject: [PATCH] fix

The message can say --- or +++ or even diff -u.
---
 x.py | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/x.py b/x.py
index 1..2 100644
--- a/x.py
+++ b/x.py
@@ -1 +1 @@
-a
+b
--\x20
2.39.5

"""


def test_format_patch_mail_and_signature_are_skipped() -> None:
    assert rows(only(parse_unified(FORMAT_PATCH))) == [[("-", 1, None, "a"), ("+", None, 1, "b")]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "diff -r 44299fd3d1a8 f\n--- a/f\tSun Oct 13 20:51:07 2013 -0300\n"
            "+++ b/f\tSun Oct 13 20:51:40 2013 -0300\n@@ -1 +1 @@\n-x\n+y\n"
            "diff -r 44299fd3d1a8 n\n--- /dev/null\tThu Jan 01 00:00:00 1970 +0000\n+++ b/n\tSun Oct 13\n"
            "@@ -0,0 +1 @@\n+z\n",
            [(FileStatus.MODIFIED, "f", "f"), (FileStatus.ADDED, "n", "n")],
            id="hg",
        ),
        pytest.param(
            "Index: f\n===================================================================\n"
            "--- f\t(revision 191)\n+++ f\t(working copy)\n@@ -1 +1 @@\n-x\n+y\n"
            "Index: n\n===================================================================\n"
            "--- n\t(revision 0)\n+++ n\t(revision 0)\n@@ -0,0 +1 @@\n+z\n",
            [(FileStatus.MODIFIED, "f", "f"), (FileStatus.ADDED, "n", "n")],
            id="svn",
        ),
        pytest.param(
            "--- old.txt\t2013-01-05 16:56:19\n+++ new.txt\t2013-01-05 16:56:35\n@@ -1 +1 @@\n-x\n+y\n",
            [(FileStatus.RENAMED, "old.txt", "new.txt")],
            id="plain-diff-u",
        ),
        pytest.param(
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\nBinary files a/img.png and b/img.png differ\n",
            [(FileStatus.MODIFIED, "f", "f"), (FileStatus.MODIFIED, "img.png", "img.png")],
            id="plain-with-binary",
        ),
    ],
)
def test_other_vcs_unified_diffs(text: str, expected: list[tuple[FileStatus, str, str]]) -> None:
    files = parse_unified(text)
    assert [(f.status, f.old_path, f.new_path) for f in files] == expected


def test_plain_diff_numbers() -> None:
    text = "--- a/f\n+++ b/f\n@@ -3,2 +3,3 @@\n keep\n-gone\n+new1\n+new2\n"
    assert rows(only(parse_unified(text))) == [
        [(" ", 3, 3, "keep"), ("-", 4, None, "gone"), ("+", None, 4, "new1"), ("+", None, 5, "new2")]
    ]


def test_lines_after_a_hunks_count_are_skipped_like_git_apply() -> None:
    text = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\n-not part of the hunk\n+nor this\n"
    assert rows(only(parse_unified(text))) == [[("-", 1, None, "x"), ("+", None, 1, "y")]]


@pytest.mark.parametrize("text", ["", "\n", "  \n\n"])
def test_empty_text_is_no_files(text: str) -> None:
    assert parse_unified(text) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "*** a\t2013\n--- b\t2013\n***************\n*** 1,2 ****\n- x\n--- 1,2 ----\n+ y\n",
            "context diff",
            id="context",
        ),
        pytest.param("1,2d0\n< x\n< y\n4c2,3\n< z\n---\n> w\n", "normal diff", id="normal"),
        pytest.param("11a\nnew line\n.\n1,2d\n", "ed script", id="ed"),
        pytest.param("d1 2\na4 2\nx\ny\n", "RCS diff", id="rcs"),
        pytest.param("The Way that can be told of is not the eternal Way;\n", "no unified diff", id="prose"),
        pytest.param("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n x\n", "fewer lines", id="truncated-plain"),
        pytest.param("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n-y\n+z\n", "more lines", id="longer-plain"),
        pytest.param("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-x\ntext\n", "expected a hunk line", id="junk-hunk"),
        pytest.param("@@ -1 +1 @@\n-x\n+y\ndiff --git a/f b/f\n", "before the first 'diff", id="hunk1"),
        pytest.param("+++ b/f\n@@ -1 +1 @@\n-x\n+y\n", "Target without source", id="target-without-source"),
    ],
)
def test_refused_inputs_raise_diff_parse_error(text: str, message: str) -> None:
    with pytest.raises(DiffParseError, match=message):
        parse_unified(text)


def test_unreadable_file_in_a_git_diff_is_marked_and_the_rest_kept() -> None:
    text = (
        "diff --git a/ok.py b/ok.py\n--- a/ok.py\n+++ b/ok.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/cut.py b/cut.py\n--- a/cut.py\n+++ b/cut.py\n@@ -1,5 +1,5 @@\n a\n"
        "diff --git a/also.py b/also.py\n--- a/also.py\n+++ b/also.py\n@@ -2 +2 @@\n-c\n+d\n"
    )
    ok, cut, also = parse_unified(text)
    assert (ok.not_reviewed, also.not_reviewed, len(ok.hunks), len(also.hunks)) == (None, None, 1, 1)
    assert cut.path == "cut.py" and cut.hunks == ()
    assert cut.not_reviewed == (
        "diff could not be parsed (line 10): a hunk has fewer lines than its @@ header says (truncated diff?)"
    )


def test_git_header_without_names_raises() -> None:
    with pytest.raises(DiffParseError, match="cannot tell the file names"):
        parse_unified("diff --git a/x b/y\nindex 1..2 100644\n")


_DIFFISH = st.sampled_from(
    [
        "diff --git a/f b/f\n",
        "--- a/f\n",
        "+++ b/f\n",
        "--- /dev/null\n",
        "@@ -1 +1 @@\n",
        "@@ -0,0 +1,2 @@\n",
        "@@ -1,2 +0,0 @@\n",
        "+x\n",
        "-y\n",
        " z\n",
        "\n",
        "\\ No newline at end of file\n",
        "new file mode 100644\n",
        "deleted file mode 100644\n",
        "rename from f\n",
        "rename to g\n",
        "Binary files a/f and b/f differ\n",
        "GIT binary patch\n",
        "*** 1,2 ****\n",
        '"\n',
        "index 1..2\n",
        "old mode 100644\n",
        "\r\n",
        "@@ -x +y @@\n",
        'diff --git "a/q\\303\\251" "b/q\\303\\251"\n',
        'diff --git "a/\\777\ud800\\" "b/x"\n',
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_DIFFISH, st.text(max_size=12)), max_size=25))
def test_any_text_parses_or_raises_diff_parse_error(parts: list[str]) -> None:
    text = "".join(parts)
    gitlab_file = only(parse_gitlab_diffs([entry("f", diff=text)]))  # never raises for bad text
    try:
        files = parse_unified(text)
    except DiffParseError:
        files = []
    for file in [*files, gitlab_file]:
        for hunk in file.hunks:
            assert len([ln for ln in hunk.lines if ln.old_no is not None]) == hunk.old_len
            assert len([ln for ln in hunk.lines if ln.new_no is not None]) == hunk.new_len
