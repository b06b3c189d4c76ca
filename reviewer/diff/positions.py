"""Where a finding can sit in a merge request's diff: the commentable-line index and GitLab positions.

GitLab takes an inline comment only on a line its own diff parser (``Gitlab::Diff::Parser``) shows:
an added, removed or unchanged line inside a hunk. The position's line fields follow from the
line's kind (added: ``new_line``; removed: ``old_line``; unchanged: both), and a ``line_range``
names its first and last line by line code, ``sha1(path)_<old>_<new>``, where ``<old>``/``<new>``
are GitLab's running counters: an added line carries the old counter (the old line that would
come next), a removed line the new one. A multi-line comment sits on its range's last line, so
the position's own line fields are the end's.

A finding placed elsewhere becomes ``InSummary`` with the reason, never an exception. Two cases
are re-anchored instead (``moved=True``): a line at most ``MAX_MOVE`` lines outside a hunk goes
onto the nearest hunk's nearest line, and a number asked on a side the file does not have (the new
side of a deleted file, the old side of an added one) is read on the side it does have.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from reviewer.diff.parsing import WITHHELD, DiffLine, DiffRefs, FileDiff, LineKind
from reviewer.review.findings import Side

MAX_MOVE = 5  # how far outside a hunk a finding may be moved onto the hunk's nearest line

NOT_IN_DIFF = "path not in this merge request's diff"
NO_CHANGED_LINES = "no changed lines in this file (renamed, mode change or empty file)"


@dataclass(frozen=True, slots=True)
class LinePoint:
    """One end of a ``line_range``: a line as GitLab's diff viewer names it."""

    line_code: str
    type: Literal["new", "old"]  # "old" for a removed line, "new" for added and unchanged ones
    old_line: int | None
    new_line: int | None


@dataclass(frozen=True, slots=True)
class Position:
    """A GitLab text position; ``old_line``/``new_line`` are those of the range's last line."""

    refs: DiffRefs
    old_path: str
    new_path: str
    old_line: int | None
    new_line: int | None
    start: LinePoint
    end: LinePoint


@dataclass(frozen=True, slots=True)
class Inline:
    position: Position
    lines: tuple[DiffLine, ...]  # the anchored lines on the finding's side, start to end
    requested_line: int
    moved: bool  # re-anchored onto the nearest commentable line of a hunk


@dataclass(frozen=True, slots=True)
class InSummary:
    reason: str


Placement = Inline | InSummary


def line_code(path: str, old: int, new: int) -> str:
    """GitLab's line code: ``Gitlab::Git.diff_line_code(file_path, new, old)``."""
    return f"{_digest(path)}_{old}_{new}"


def _digest(path: str) -> str:
    # GitLab hashes the path's UTF-8 bytes; surrogatepass keeps a path with lone surrogates hashable
    return hashlib.sha1(path.encode("utf-8", errors="surrogatepass"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class _Span:
    """The numbers one hunk covers on one side, and its line indexes at both ends."""

    first: int
    last: int
    hunk: int
    first_at: int
    last_at: int


class _FileIndex:
    """One file's lines by number on each side, plus GitLab's counters for the line codes."""

    def __init__(self, file: FileDiff) -> None:
        self.file = file
        self.digest = _digest(file.new_path or file.old_path)  # GitLab: new_path.presence || old_path
        self.at: dict[Side, dict[int, tuple[int, int]]] = {Side.NEW: {}, Side.OLD: {}}
        self.spans: dict[Side, list[_Span]] = {Side.NEW: [], Side.OLD: []}
        self.last_at: dict[Side, dict[int, int]] = {Side.NEW: {}, Side.OLD: {}}
        # per hunk and line: GitLab's counter for the side the line has no number on
        self.other_counter: list[tuple[int, ...]] = [self._add_hunk(h) for h in range(len(file.hunks))]
        for side in Side:
            self.spans[side].sort(key=lambda span: span.first)

    def _add_hunk(self, h: int) -> tuple[int, ...]:
        hunk = self.file.hunks[h]
        old, new = hunk.old_start, hunk.new_start
        counters: list[int] = []
        ends: dict[Side, list[tuple[int, int]]] = {}  # side -> [(number, index) of first, of last]
        for i, line in enumerate(hunk.lines):
            counters.append(old if line.kind is LineKind.ADDED else new)
            old += line.kind is not LineKind.ADDED
            new += line.kind is not LineKind.REMOVED
            for side, number in ((Side.NEW, line.new_no), (Side.OLD, line.old_no)):
                if number is not None:
                    self.at[side][number] = (h, i)
                    ends.setdefault(side, [(number, i), (number, i)])[1] = (number, i)
        for side, ((first, first_at), (last, last_at)) in ends.items():
            self.spans[side].append(_Span(first, last, h, first_at, last_at))
            self.last_at[side][h] = last_at
        return tuple(counters)

    def locate(self, line: int, side: Side) -> tuple[int, int, bool] | None:
        """(hunk, line index, moved) of ``line``, or of the nearest hunk line within MAX_MOVE."""
        exact = self.at[side].get(line)
        if exact is not None:
            return (*exact, False)
        spans = self.spans[side]
        k = bisect_left(spans, line, key=lambda span: span.first)
        candidates = []  # (distance, hunk, index): on a tie the earlier hunk wins
        if k > 0:
            candidates.append((line - spans[k - 1].last, spans[k - 1].hunk, spans[k - 1].last_at))
        if k < len(spans):
            candidates.append((spans[k].first - line, spans[k].hunk, spans[k].first_at))
        distance, hunk, at = min(candidates, default=(MAX_MOVE + 1, -1, -1))
        return (hunk, at, True) if distance <= MAX_MOVE else None

    def range_end(self, hunk: int, start: int, side: Side, end_line: int) -> int:
        """The index of ``end_line`` on ``side``, shortened to the end of the start's hunk."""
        end = self.at[side].get(end_line)
        if end is not None and end[0] == hunk and end[1] >= start:
            return end[1]
        return self.last_at[side][hunk]

    def point(self, hunk: int, i: int) -> LinePoint:
        line = self.file.hunks[hunk].lines[i]
        other = self.other_counter[hunk][i]
        old = line.old_no if line.old_no is not None else other
        new = line.new_no if line.new_no is not None else other
        kind: Literal["new", "old"] = "old" if line.kind is LineKind.REMOVED else "new"
        return LinePoint(f"{self.digest}_{old}_{new}", kind, line.old_no, line.new_no)


def _number(line: DiffLine, side: Side) -> int | None:
    return line.new_no if side is Side.NEW else line.old_no


class LineIndex:
    """Answers "where does this finding go" for one version of a merge request's diff.

    Files are indexed on first use, so a 2,000-file diff costs only for the files findings name.
    """

    def __init__(self, files: Sequence[FileDiff], refs: DiffRefs) -> None:
        self.refs = refs
        self._files: dict[str, FileDiff] = {}
        for file in files:  # old paths first, so that a path some file now has wins over a former one
            self._files.setdefault(file.old_path, file)
        for file in files:
            self._files[file.new_path] = file
        self._indexes: dict[int, _FileIndex] = {}

    def file(self, path: str) -> FileDiff | None:
        """The file a finding's path names: exact, else without a stray ``a/``, ``b/``, ``./``."""
        for spelling in _spellings(path):
            found = self._files.get(spelling)
            if found is not None:
                return found
        return None

    def lines_of(self, path: str) -> tuple[DiffLine, ...]:
        file = self.file(path)
        return tuple(line for hunk in file.hunks for line in hunk.lines) if file else ()

    def is_commentable(self, path: str, line: int, side: Side) -> bool:
        file = self.file(path)
        if file is None or _not_commentable(file) is not None:
            return False
        return line in self._index(file).at[Side(side)]

    def place(self, path: str, line: int, side: Side = Side.NEW, end_line: int | None = None) -> Placement:
        """Inline on ``line`` (through ``end_line`` on the same side, within its hunk), or why not."""
        file = self.file(path)
        if file is None:
            return InSummary(NOT_IN_DIFF)
        reason = _not_commentable(file)
        if reason is not None:
            return InSummary(reason)
        asked = Side(side)
        index = self._index(file)
        # a deleted file has no new side, an added one no old side: there a number can mean only the other
        side = asked if index.spans[asked] else (Side.OLD if asked is Side.NEW else Side.NEW)
        found = index.locate(line, side)
        if found is None:
            return InSummary(f"line {line} is outside the diff")
        hunk, start, moved = found
        moved = moved or side is not asked
        end = start
        if end_line is not None and end_line > line and not moved:
            end = index.range_end(hunk, start, side, end_line)
        hunk_lines = file.hunks[hunk].lines
        last = hunk_lines[end]
        position = Position(
            self.refs,
            file.old_path,
            file.new_path,
            last.old_no,
            last.new_no,
            index.point(hunk, start),
            index.point(hunk, end),
        )
        anchored = tuple(ln for ln in hunk_lines[start : end + 1] if _number(ln, side) is not None)
        return Inline(position, anchored, line, moved)

    def _index(self, file: FileDiff) -> _FileIndex:
        index = self._indexes.get(id(file))
        if index is None:
            index = self._indexes[id(file)] = _FileIndex(file)
        return index


def _spellings(path: str) -> Iterator[str]:
    yield path
    bare = path
    while bare.startswith("./"):
        bare = bare[2:]
    bare = bare.lstrip("/")
    yield bare
    if bare.startswith(("a/", "b/")):
        yield bare[2:]


def _not_commentable(file: FileDiff) -> str | None:
    if file.is_binary:
        return file.not_reviewed or "binary file"
    if file.not_reviewed:
        return file.not_reviewed
    if file.too_large:
        return WITHHELD
    if not file.hunks:
        return NO_CHANGED_LINES
    return None
