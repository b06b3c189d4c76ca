"""Cutting rendered files into chunks that fit a model call: files whole when they fit, small
files together, large files split by hunk, a hunk over the budget split between lines. Every
changed line lands in exactly one chunk. A chunk the model could not take whole (its answer cut
off, its prompt over the context) is halved the same ways: ``halve``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TypeVar

from reviewer.diff.parsing import FileDiff, Hunk, LineKind
from reviewer.diff.render import render_header, render_hunk
from reviewer.review.tokens import TokenCounter

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Chunk:
    files: tuple[FileDiff, ...]  # a file split across chunks holds only its hunks in this one
    text: str
    tokens: int  # the sum of its files' counts (tiktoken may differ by a token where they meet)
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Piece:
    """A file, or the part of it that fits a chunk, rendered and counted."""

    file: FileDiff
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class _Rendered:
    hunk: Hunk
    text: str
    tokens: int


def _unmasked(text: str) -> str:
    return text


Around = Callable[[FileDiff, Hunk], Mapping[int, str]]
"""The lines of the head a hunk brings along (``reviewer.review.context``): number -> text."""


class Cutter:
    """Renders files and cuts those over the budget; collects notes on what it had to cut."""

    def __init__(
        self,
        budget: int,
        context: int,
        counter: TokenCounter,
        mask: Callable[[str], str] | None = None,
        around: Around | None = None,
    ) -> None:
        self.budget = budget
        self.context = context
        self.count = counter.count
        self.mask = mask or _unmasked
        self.around = around
        self.notes: list[str] = []

    def pieces(self, file: FileDiff) -> list[Piece]:
        header = self.mask(render_header(file))
        header_tokens = self.count(header)
        hunks = [r for r in (self._render(file, h) for h in file.hunks) if r.text]
        total = header_tokens + sum(r.tokens for r in hunks)
        if total <= self.budget:
            return [Piece(file, header + "".join(r.text for r in hunks), total)]
        room = self.budget - header_tokens
        if self.around is not None:  # each hunk with all of its context, then each part again
            hunks = [r for r in (self._render(replace(file, hunks=(h,)), h) for h in file.hunks) if r.text]
        parts = _group([sub for r in hunks for sub in self._fit(file, r, room)], room)
        return [self._piece(replace(file, hunks=tuple(r.hunk for r in part)), header, part) for part in parts]

    def _piece(self, file: FileDiff, header: str, rendered: list[_Rendered]) -> Piece:
        """A part of a file: its hunks rendered again together, so that context one hunk shows is
        not repeated by the next (only ever fewer tokens than the parts counted alone)."""
        if self.around is not None and len(rendered) > 1:
            rendered = [self._render(file, r.hunk) for r in rendered]
        return Piece(
            file,
            header + "".join(r.text for r in rendered),
            self.count(header) + sum(r.tokens for r in rendered),
        )

    def whole(self, file: FileDiff) -> Piece:
        """The file with all its hunks, rendered and counted, whatever the budget."""
        header = self.mask(render_header(file))
        hunks = [r for r in (self._render(file, h) for h in file.hunks) if r.text]
        return Piece(
            file, header + "".join(r.text for r in hunks), self.count(header) + sum(r.tokens for r in hunks)
        )

    def _render(self, file: FileDiff, hunk: Hunk) -> _Rendered:
        around = self.around(file, hunk) if self.around is not None else None
        text = self.mask(render_hunk(hunk, context=self.context, around=around))
        return _Rendered(hunk, text, self.count(text) if text else 0)

    def _fit(self, file: FileDiff, rendered: _Rendered, room: int) -> list[_Rendered]:
        """The hunk, or its parts cut between lines when it alone is over ``room``."""
        if rendered.tokens <= room:
            return [rendered]
        parts = self._split(file, rendered, room)
        if len(parts) > 1:
            self.notes.append(
                f"{file.path}: a hunk of {rendered.tokens} tokens, over the {self.budget}-token budget, "
                f"was split into {len(parts)} parts between lines"
            )
        for part in parts:
            if part.tokens > room:
                self.notes.append(
                    f"{file.path}: line {_first_changed(part.hunk)} alone is over the budget "
                    f"({part.tokens} tokens); sent whole"
                )
        return parts

    def _split(self, file: FileDiff, rendered: _Rendered, room: int) -> list[_Rendered]:
        """Cut between lines, each line's cost estimated from its length (a count per line would
        cost a counter call each); a part the estimate got wrong is cut again."""
        lines = rendered.hunk.lines
        if len(lines) < 2:
            return [rendered]
        lengths = [len(line.text) + 8 for line in lines]  # 8: number, mark, spaces, newline
        scale = rendered.tokens / sum(lengths)
        costs = [math.ceil(length * scale) for length in lengths]
        parts = [r for r in (self._render(file, h) for h in _cut(rendered.hunk, costs, room)) if r.text]
        return [
            cut for part in parts for cut in (self._split(file, part, room) if part.tokens > room else [part])
        ]


def _first_changed(hunk: Hunk) -> int | None:
    line = next(ln for ln in hunk.lines if ln.kind is not LineKind.CONTEXT)
    return line.old_no if line.kind is LineKind.REMOVED else line.new_no


def _group(rendered: list[_Rendered], room: int) -> list[list[_Rendered]]:
    """Consecutive hunks packed into parts of at most ``room`` tokens (a hunk over it alone)."""
    return _bins(rendered, lambda r: r.tokens, room)


def _bins(items: Sequence[_T], cost: Callable[[_T], int], budget: int) -> list[list[_T]]:
    """``items`` in their order, a new bin whenever the next would overflow the current one."""
    bins: list[list[_T]] = []
    size = 0
    for item in items:
        if bins and size + cost(item) <= budget:
            bins[-1].append(item)
            size += cost(item)
        else:
            bins.append([item])
            size = cost(item)
    return bins


def _cut(hunk: Hunk, costs: list[int], room: int) -> list[Hunk]:
    """``hunk`` cut between lines into hunks whose lines cost at most ``room`` each (a single
    line over it stays alone), preferably before an unchanged line so that a run of changes
    (a removed line and the line replacing it) stays together."""
    bounds = [0]
    size = 0
    quiet = 0  # the latest cut point before an unchanged line in the current part, 0 if none
    for i, (line, cost) in enumerate(zip(hunk.lines, costs, strict=True)):
        if i > bounds[-1] and size + cost > room:
            cut = quiet if quiet > bounds[-1] else i
            bounds.append(cut)
            size = sum(costs[cut:i])
        if line.kind is LineKind.CONTEXT:
            quiet = i
        size += cost
    bounds.append(len(costs))
    return [hunk.part(start, stop) for start, stop in pairwise(bounds)]


def pack(pieces: list[Piece], budget: int) -> list[Chunk]:
    """Pieces in their order, a new chunk whenever the next would overflow the current one."""
    return [_chunk(group) for group in _bins(pieces, lambda p: p.tokens, budget)]


def _chunk(pieces: Sequence[Piece]) -> Chunk:
    return Chunk(
        files=tuple(p.file for p in pieces),
        text="".join(p.text for p in pieces),
        tokens=sum(p.tokens for p in pieces),
        paths=tuple(dict.fromkeys(p.file.path for p in pieces)),
    )


def halve(chunk: Chunk, cutter: Cutter) -> tuple[Chunk, Chunk] | None:
    """``chunk``'s changes in two chunks of about half its tokens each: between its files; with one
    file, between its hunks; with one hunk, between its lines (where a run of changes starts, if
    it has more than one). None for a single changed line: there is nothing smaller to ask about."""
    if len(chunk.files) > 1:
        pieces = [cutter.whole(file) for file in chunk.files]
        cut = _middle([p.tokens for p in pieces])
        return _chunk(pieces[:cut]), _chunk(pieces[cut:])
    (file,) = chunk.files
    if len(file.hunks) > 1:
        cut = _middle([len(render_hunk(h, context=cutter.context)) for h in file.hunks])  # characters
        parts = (file.hunks[:cut], file.hunks[cut:])
    else:
        (hunk,) = file.hunks
        line = _line_cut(hunk)
        if line is None:
            return None
        parts = ((hunk.part(0, line),), (hunk.part(line, len(hunk.lines)),))
    first, second = (_chunk([cutter.whole(replace(file, hunks=hunks))]) for hunks in parts)
    return first, second


def _middle(costs: Sequence[int]) -> int:
    """The cut (1 to len - 1) that parts ``costs`` into two sums as even as they can be."""
    total, best, best_gap, running = sum(costs), 1, math.inf, 0
    for cut, cost in enumerate(costs[:-1], start=1):
        running += cost
        if abs(2 * running - total) < best_gap:
            best, best_gap = cut, abs(2 * running - total)
    return best


def _line_cut(hunk: Hunk) -> int | None:
    """Where to cut ``hunk`` so that each part keeps changed lines: at the start of the run of
    changes nearest its middle changed line, or at that line when all changes are one run."""
    changed = [i for i, line in enumerate(hunk.lines) if line.kind is not LineKind.CONTEXT]
    if len(changed) < 2:
        return None
    middle = changed[len(changed) // 2]
    starts = [i for i in changed[1:] if hunk.lines[i - 1].kind is LineKind.CONTEXT]
    return min(starts, key=lambda i: abs(i - middle)) if starts else middle


def line_span(chunk: Chunk) -> str:
    """Which lines of its one file a (halved) chunk holds: " (lines 4-9)"; new-file numbers,
    old-file ones for removed lines."""
    if len(chunk.files) != 1:
        return ""
    numbers = [
        line.new_no if line.new_no is not None else line.old_no
        for hunk in chunk.files[0].hunks
        for line in hunk.lines
        if line.kind is not LineKind.CONTEXT
    ]
    low, high = min(n for n in numbers if n is not None), max(n for n in numbers if n is not None)
    return f" (line {low})" if low == high else f" (lines {low}-{high})"
