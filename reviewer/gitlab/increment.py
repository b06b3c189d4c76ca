"""Follow-up reviews: after a push, only what changed since the last reviewed head is reviewed.

The merge request's diff (base..new head) is cut down to the hunks that overlap what the push
changed (old head..new head, compared straight). A straight compare after a rebase also shows
what the target branch gained, so first the MR's own patches are compared, version against
version (each from its merge base): a file whose own changes are the same as at the last reviewed
head is not reviewed again, and a push that changed none of them (a rebase onto a moved target)
reviews nothing. Positions still come from the MR's latest version, so every finding anchors as
in a full review; files the push did not touch are not sent to the model again.

``review_scope`` decides what a review sends to the model: the whole MR, what a push changed,
and the files an earlier review of the MR could not review (their model calls failed).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from reviewer.diff.parsing import FileDiff, FileStatus, Hunk, LineKind
from reviewer.review.memory import Unfinished

_WHOLE_FILE = [(1, sys.maxsize)]
CONTEXT = 3  # unchanged lines kept around what a push changed, as GitLab's hunks do


@dataclass(frozen=True, slots=True)
class Scope:
    """What one review sends to the model."""

    files: tuple[FileDiff, ...]
    since: str | None = None  # a follow-up: what changed since this head
    retried: tuple[str, ...] = ()  # files reviewed again because their model calls failed before
    narrowed: bool = False  # a command asked for some aspects or files only
    rebased: bool = False  # a follow-up whose head moved without changing the MR's own changes

    @property
    def partial(self) -> bool:
        """Only part of the MR: the summary keeps listing what earlier reviews found elsewhere."""
        return self.since is not None or bool(self.retried) or self.narrowed


def review_scope(
    files: Sequence[FileDiff],
    head_sha: str,
    *,
    follow_up: bool,
    last_reviewed: str | None,
    unfinished: Unfinished | None,
    interdiff: Callable[[str], Sequence[FileDiff] | None],
    own_patches: Callable[[str], Sequence[FileDiff] | None] | None = None,
) -> Scope:
    """What to review of the MR's ``files`` at ``head_sha``.

    - The last review of this very head could not review some files: those files only (the rest
      of the head was reviewed and published).
    - A follow-up (a push): the hunks changed since the last head reviewed, in full or in part,
      plus the files that review could not review. ``interdiff(head)`` compares that head with
      this one; None (force-pushed away) means the whole MR. ``own_patches(head)`` gives the MR's
      files as the version of that head showed them: files whose own changes are unchanged are
      left out, and when none changed (a rebase), nothing is reviewed (``Scope.rebased``).
    - Otherwise the whole MR.
    """
    failed = set(unfinished.paths) if unfinished else set()
    again = [f for f in files if f.path in failed or f.old_path in failed]
    if unfinished is not None and unfinished.head_sha == head_sha:
        return Scope(tuple(again), retried=tuple(f.path for f in again))
    previous = unfinished.head_sha if unfinished is not None else last_reviewed
    if not follow_up or previous is None or previous == head_sha:
        return Scope(tuple(files))
    before = own_patches(previous) if own_patches is not None else None
    changed_own = own_changes(before, files) if before is not None else None
    if changed_own is not None and not changed_own:
        return Scope(tuple(again), since=previous, retried=tuple(f.path for f in again), rebased=True)
    changes = interdiff(previous)
    if changes is None:
        return Scope(tuple(files))
    if changed_own is not None:
        changes = [c for c in changes if c.new_path in changed_own or c.old_path in changed_own]
    chosen = {f.path: f for f in changed_since(files, changes)} | {f.path: f for f in again}
    return Scope(
        tuple(chosen[f.path] for f in files if f.path in chosen),
        since=previous,
        retried=tuple(f.path for f in again),
    )


def narrow_scope(scope: Scope, paths: Sequence[str]) -> Scope:
    """The scope of a command that asked for some files only (every file when ``paths`` is empty):
    a part of the MR, so the summary keeps listing what earlier reviews found elsewhere."""
    files = [f for f in scope.files if not paths or f.path in paths or f.old_path in paths]
    return Scope(tuple(files), since=scope.since, retried=scope.retried, narrowed=True, rebased=scope.rebased)


def own_changes(before: Sequence[FileDiff], after: Sequence[FileDiff]) -> set[str]:
    """The paths (old and new) of the MR's files whose own patch differs between two versions:
    added to or dropped from the MR, renamed otherwise, or with other added and removed lines.
    Line numbers and unchanged lines are not compared (a moved target shifts and changes those);
    a file without text (binary, too large) counts as changed."""

    def patch(file: FileDiff) -> tuple[object, ...] | None:
        if not file.hunks:
            return None
        lines = tuple(
            (ln.kind, ln.text) for h in file.hunks for ln in h.lines if ln.kind is not LineKind.CONTEXT
        )
        return (file.status, file.old_path, file.new_path, lines)

    old = {f.new_path: patch(f) for f in before}
    changed: set[str] = set()
    for file in after:
        mine = patch(file)
        if mine is None or old.pop(file.new_path, None) != mine:
            changed |= {file.old_path, file.new_path}
    for path in old:  # no longer part of the MR
        changed.add(path)
    return changed


def changed_since(mr_files: Sequence[FileDiff], interdiff: Sequence[FileDiff]) -> list[FileDiff]:
    """The MR's files reduced to the hunks that overlap the new-side lines ``interdiff`` touched.

    A file the interdiff shows without text (binary, too large) counts as touched everywhere; a
    file the push did not touch is left out.
    """
    touched: dict[str, list[tuple[int, int]]] = {}
    for file in interdiff:
        if file.status is FileStatus.DELETED:
            continue
        touched[file.new_path] = [s for h in file.hunks for s in _changed(h)] if file.hunks else _WHOLE_FILE
    reduced: list[FileDiff] = []
    for file in mr_files:
        spans = touched.get(file.new_path)
        if spans is None:
            continue
        if not file.hunks:
            reduced.append(file)  # binary or withheld: planning lists it as not reviewed
            continue
        hunks = tuple(part for h in file.hunks if _overlaps(_span(h), spans) for part in _near(h, spans))
        if hunks:
            reduced.append(replace(file, hunks=hunks))
    return reduced


def _near(hunk: Hunk, spans: list[tuple[int, int]]) -> list[Hunk]:
    """The parts of ``hunk`` within ``CONTEXT`` lines of what changed: a one-line push into a new
    file of 300 lines sends a few lines, not the file."""
    keep = []
    new = hunk.new_start
    for line in hunk.lines:
        # a removed line sits where it was, between new-side lines new - 1 and new
        at = line.new_no if line.new_no is not None else new
        keep.append(any(first - CONTEXT <= at <= last + CONTEXT for first, last in spans))
        new += line.new_no is not None
    parts, start = [], None
    for i, kept in enumerate([*keep, False]):
        if kept and start is None:
            start = i
        elif not kept and start is not None:
            parts.append(hunk.part(start, i))
            start = None
    return [p for p in parts if any(ln.kind is not LineKind.CONTEXT for ln in p.lines)]


def _changed(hunk: Hunk) -> list[tuple[int, int]]:
    """The new-side lines a hunk changes, as ranges; a removal counts at the line after it."""
    spans: list[tuple[int, int]] = []
    new = hunk.new_start
    for line in hunk.lines:
        if line.kind is not LineKind.CONTEXT:
            at = line.new_no if line.new_no is not None else new
            if spans and at <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(spans[-1][1], at))
            else:
                spans.append((at, at))
        new += line.new_no is not None
    return spans


def _span(hunk: Hunk) -> tuple[int, int]:
    """The new-side lines a hunk covers; a pure deletion covers the line where it happened."""
    return hunk.new_start, hunk.new_start + max(hunk.new_len, 1) - 1


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    first, last = span
    return any(first <= other_last and other_first <= last for other_first, other_last in spans)
