"""Follow-up reviews: after a push, only what changed since the last reviewed head is reviewed.

The merge request's diff (base..new head) is cut down to the hunks that overlap what the push
changed (old head..new head, compared straight, so a rebase shows only what it really changed in
the MR's files). Positions still come from the MR's latest version, so every finding anchors as in
a full review; files the push did not touch are not sent to the model again.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace

from reviewer.diff import FileDiff, FileStatus, Hunk

_WHOLE_FILE = [(1, sys.maxsize)]


def changed_since(mr_files: Sequence[FileDiff], interdiff: Sequence[FileDiff]) -> list[FileDiff]:
    """The MR's files reduced to the hunks that overlap the new-side lines ``interdiff`` touched.

    A file the interdiff shows without text (binary, too large) counts as touched everywhere; a
    file the push did not touch is left out.
    """
    touched: dict[str, list[tuple[int, int]]] = {}
    for file in interdiff:
        if file.status is FileStatus.DELETED:
            continue
        touched[file.new_path] = [_span(h) for h in file.hunks] if file.hunks else _WHOLE_FILE
    reduced: list[FileDiff] = []
    for file in mr_files:
        spans = touched.get(file.new_path)
        if spans is None:
            continue
        if not file.hunks:
            reduced.append(file)  # binary or withheld: planning lists it as not reviewed
            continue
        hunks = tuple(h for h in file.hunks if _overlaps(_span(h), spans))
        if hunks:
            reduced.append(replace(file, hunks=hunks))
    return reduced


def _span(hunk: Hunk) -> tuple[int, int]:
    """The new-side lines a hunk covers; a pure deletion covers the line where it happened."""
    return hunk.new_start, hunk.new_start + max(hunk.new_len, 1) - 1


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    first, last = span
    return any(first <= other_last and other_first <= last for other_first, other_last in spans)
