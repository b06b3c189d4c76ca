from __future__ import annotations

from typing import Any

from reviewer.diff.parsing import FileDiff, FileStatus, parse_unified
from reviewer.gitlab.increment import Scope, changed_since, own_changes, review_scope
from reviewer.review.memory import Unfinished

MR = """\
diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -10,3 +10,4 @@ def f():
 x = 1
+y = 2
 z = 3
 w = 4
@@ -40,3 +41,3 @@ def g():
 p = 1
-q = 2
+q = 3
 r = 4
diff --git a/b.py b/b.py
--- a/b.py
+++ b/b.py
@@ -1,2 +1,3 @@
 one
+two
 three
"""


def _interdiff(text: str) -> list[FileDiff]:
    return parse_unified(text)


def test_only_hunks_the_push_touched_are_kept() -> None:
    push = "--- a/a.py\n+++ b/a.py\n@@ -41,3 +41,3 @@\n p = 1\n-q = 5\n+q = 3\n r = 4\n"
    reduced = changed_since(parse_unified(MR), _interdiff(push))
    assert [f.path for f in reduced] == ["a.py"]
    (hunk,) = reduced[0].hunks
    assert hunk.new_start == 41


def test_a_pure_deletion_in_the_push_keeps_the_hunk_where_it_happened() -> None:
    push = "--- a/a.py\n+++ b/a.py\n@@ -11,2 +11,1 @@\n y = 2\n-gone = 0\n"
    reduced = changed_since(parse_unified(MR), _interdiff(push))
    assert [h.new_start for h in reduced[0].hunks] == [10]


def test_untouched_files_are_left_out_and_a_file_without_text_counts_as_touched() -> None:
    binary = FileDiff("b.py", "b.py", FileStatus.MODIFIED, is_binary=True)
    reduced = changed_since(parse_unified(MR), [binary])
    assert [f.path for f in reduced] == ["b.py"] and len(reduced[0].hunks) == 1


def test_a_push_that_touched_nothing_of_the_mr_leaves_nothing_to_review() -> None:
    push = "--- a/c.py\n+++ b/c.py\n@@ -1 +1 @@\n-a\n+b\n"
    assert changed_since(parse_unified(MR), _interdiff(push)) == []


def test_a_one_line_push_into_a_new_file_sends_only_the_lines_around_it() -> None:
    lines = [f"line {i}" for i in range(1, 101)]
    mr = "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,100 @@\n" + "".join(f"+{t}\n" for t in lines)
    push = (
        "--- a/new.py\n+++ b/new.py\n@@ -47,7 +47,7 @@\n"
        + "".join(f" line {i}\n" for i in range(47, 50))
        + "-old 50\n+line 50\n"
        + "".join(f" line {i}\n" for i in range(51, 54))
    )
    (file,) = changed_since(parse_unified(mr), parse_unified(push))
    (hunk,) = file.hunks
    assert [ln.new_no for ln in hunk.lines] == list(range(47, 54))
    assert (hunk.new_start, hunk.new_len) == (47, 7)


# -- what a review sends to the model ---------------------------------------------------------

PUSH_A = "--- a/a.py\n+++ b/a.py\n@@ -41,3 +41,3 @@\n p = 1\n-q = 5\n+q = 3\n r = 4\n"


def _scope(**kwargs: object) -> Scope:
    def interdiff(since: str) -> list[FileDiff] | None:
        return None if since == "gone" else _interdiff(PUSH_A)  # "gone": force-pushed away

    arguments: dict[str, Any] = {"follow_up": False, "last_reviewed": None, "unfinished": None}
    arguments.update(kwargs)
    return review_scope(parse_unified(MR), "head", interdiff=interdiff, **arguments)


def test_a_first_review_sends_the_whole_merge_request() -> None:
    scope = _scope()
    assert [f.path for f in scope.files] == ["a.py", "b.py"] and not scope.partial


def test_a_push_sends_what_changed_since_the_last_reviewed_head() -> None:
    scope = _scope(follow_up=True, last_reviewed="old")
    assert scope.since == "old" and [f.path for f in scope.files] == ["a.py"]
    assert [h.new_start for h in scope.files[0].hunks] == [41] and scope.partial


def test_the_head_reviewed_in_part_gets_only_its_failed_files_again() -> None:
    scope = _scope(last_reviewed="older", unfinished=Unfinished("head", ("b.py",)))
    assert [f.path for f in scope.files] == ["b.py"] and scope.retried == ("b.py",)
    assert scope.since is None and scope.partial


def test_a_push_after_a_partial_review_adds_the_failed_files_whole() -> None:
    scope = _scope(follow_up=True, last_reviewed="older", unfinished=Unfinished("mid", ("a.py", "b.py")))
    assert scope.since == "mid" and scope.retried == ("a.py", "b.py")
    assert [len(f.hunks) for f in scope.files] == [2, 1]  # a.py whole, not only the pushed hunk


def test_a_head_that_cannot_be_compared_any_more_means_the_whole_merge_request() -> None:
    scope = _scope(follow_up=True, last_reviewed="gone")
    assert scope.since is None and [f.path for f in scope.files] == ["a.py", "b.py"]


def test_a_rebase_leaves_the_own_patches_and_their_files_out() -> None:
    """The same MR after its target moved: line numbers shift, context lines change, the added
    and removed lines are the same; b.py gained a line of its own."""
    rebased = (
        MR.replace("@@ -10,3 +10,4 @@", "@@ -12,3 +12,4 @@")
        .replace(" x = 1\n", " x = 'changed on main'\n")
        .replace("@@ -40,3 +41,3 @@", "@@ -42,3 +43,3 @@")
        .replace("+two\n", "+two\n+and a half\n")
        .replace("@@ -1,2 +1,3 @@", "@@ -1,2 +1,4 @@")
    )
    before, after = parse_unified(MR), parse_unified(rebased)
    assert own_changes(before, after) == {"b.py"}
    assert own_changes(before, before) == set()
    assert own_changes(before, after[:1]) == {"b.py"}  # dropped from the MR

    target_moved = _interdiff("--- a/a.py\n+++ b/a.py\n@@ -12,1 +12,1 @@\n-x = 1\n+x = 'changed on main'\n")
    rebase_only = review_scope(
        before,
        "new",
        follow_up=True,
        last_reviewed="old",
        unfinished=None,
        interdiff=lambda since: target_moved,
        own_patches=lambda since: before,
    )
    assert rebase_only == Scope((), since="old", rebased=True)
    without_versions = review_scope(
        before,
        "new",
        follow_up=True,
        last_reviewed="old",
        unfinished=None,
        interdiff=lambda since: target_moved,
        own_patches=lambda since: None,  # no version of that head: the straight compare decides
    )
    assert [f.path for f in without_versions.files] == ["a.py"] and not without_versions.rebased
