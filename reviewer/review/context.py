"""The enclosing context of each hunk: what the model sees of the file around a change, beyond the
few unchanged lines of the diff.

For every hunk, the signature line(s) of each function and class that encloses a changed line,
and the whole innermost enclosing function when it is short (at most ``function_tokens`` tokens;
0 shows signatures only). They come from the file as the head has it, and are rendered as
unchanged lines with their new-file numbers (``reviewer.diff.render``), so the model cites them
like any other line. The outline of each file (``reviewer.review.outline``) is computed once.

A text that disagrees with the diff (its lines at the hunk's new-file numbers are not the hunk's)
is not the head the diff was made against: that file gets no context rather than wrong context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reviewer.diff.parsing import DiffLine, FileDiff, FileStatus, Hunk, LineKind
from reviewer.review.outline import Definition, Kind, outline

__all__ = ["EnclosingConfig", "EnclosingContext", "changed_positions"]


@dataclass(frozen=True, slots=True)
class EnclosingConfig:
    enabled: bool = True
    function_tokens: int = 400  # a function up to this size is shown whole; 0: signatures only
    signature_lines: int = 6  # a longer signature (decorators, many parameters) shows its first lines


@dataclass(frozen=True, slots=True)
class _File:
    lines: tuple[str, ...]
    definitions: tuple[Definition, ...]
    costs: dict[tuple[int, int], int] = field(default_factory=dict)  # tokens of each function

    def cost(self, function: Definition, count: Callable[[str], int]) -> int:
        key = (function.first, function.last)
        if key not in self.costs:
            self.costs[key] = count("\n".join(self.lines[function.first - 1 : function.last]))
        return self.costs[key]


class EnclosingContext:
    """The head's texts of a review's files, and which of their lines each hunk brings along.

    Thread-safe: the chunking of a review may render from several threads.
    """

    def __init__(
        self,
        texts: Mapping[str, str | None],
        config: EnclosingConfig,
        count: Callable[[str], int],
    ) -> None:
        self._texts = texts
        self._config = config
        self._count = count
        self._files: dict[str, _File | None] = {}
        self._lock = threading.Lock()

    def around(self, file: FileDiff, hunk: Hunk) -> dict[int, str]:
        """New-file line number -> the head's text, for the lines ``hunk`` brings along.

        Within ``file``, what the hunk before it brings is not repeated, nor are lines of its
        other hunks (they show there, marked as they are). A hunk that is not one of
        ``file.hunks`` (a part of a hunk cut to fit) brings all of its context."""
        parsed = self._file(file)
        if parsed is None or not _agrees(parsed.lines, hunk):
            return {}
        shown = self._lines_of(parsed, hunk)
        index = next((i for i, h in enumerate(file.hunks) if h is hunk), None)
        if index is not None:
            if index > 0 and _agrees(parsed.lines, file.hunks[index - 1]):
                shown -= self._lines_of(parsed, file.hunks[index - 1])
            for other in file.hunks[:index] + file.hunks[index + 1 :]:
                shown.difference_update(range(other.new_start, other.new_start + other.new_len))
        return {n: parsed.lines[n - 1] for n in sorted(shown) if n <= len(parsed.lines)}

    def _lines_of(self, parsed: _File, hunk: Hunk, *, shared_budget: bool = True) -> set[int]:
        """The signatures of the definitions enclosing the hunk's changes, and its innermost
        enclosing functions whole while they fit the budget (``shared_budget``: together; else
        each on its own)."""
        positions = changed_positions(hunk)
        enclosing = [d for d in parsed.definitions if any(d.contains(n) for n in positions)]
        shown: set[int] = set()
        for definition in enclosing:
            last = min(definition.header_last, definition.first + self._config.signature_lines - 1)
            shown.update(range(definition.first, last + 1))
        budget = self._config.function_tokens
        for function in _innermost_functions(enclosing, positions):
            body = range(function.first, min(function.last, len(parsed.lines)) + 1)
            cost = parsed.cost(function, self._count)
            if cost <= budget:
                shown.update(body)
                budget -= cost if shared_budget else 0
        return shown

    def scanned_lines(self, files: Iterable[FileDiff]) -> list[FileDiff]:
        """Every line of ``files`` that ``around`` can bring along (each hunk's signatures, and
        each enclosing function that fits the budget on its own, whatever the others took), as
        unchanged lines: what the secrets detector must scan before any of it is sent."""
        scanned = []
        for file in files:
            parsed = self._file(file)
            if parsed is None:
                continue
            numbers = {n for hunk in file.hunks for n in self._lines_of(parsed, hunk, shared_budget=False)}
            numbers = {n for n in numbers if n <= len(parsed.lines)}
            if numbers:
                lines = tuple(
                    DiffLine(LineKind.CONTEXT, None, n, parsed.lines[n - 1]) for n in sorted(numbers)
                )
                hunk = Hunk(0, 0, min(numbers), len(lines), lines)
                scanned.append(FileDiff(file.new_path, file.new_path, FileStatus.MODIFIED, (hunk,)))
        return scanned

    def _file(self, file: FileDiff) -> _File | None:
        if not self._config.enabled or file.status is FileStatus.DELETED:
            return None
        path = file.new_path
        with self._lock:
            if path in self._files:
                return self._files[path]
        text = self._texts.get(path)
        parsed = _File(tuple(_lines(text)), tuple(outline(path, text))) if text else None
        with self._lock:
            return self._files.setdefault(path, parsed)


def changed_positions(hunk: Hunk) -> list[int]:
    """Where each changed line of ``hunk`` sits in the new file: an added line at its number, a
    removed one at the line before the place it was removed from."""
    positions = []
    following = hunk.new_start if hunk.new_len else hunk.new_start + 1
    for line in hunk.lines:
        if line.new_no is not None:
            following = line.new_no + 1
        if line.kind is LineKind.ADDED and line.new_no is not None:
            positions.append(line.new_no)
        elif line.kind is LineKind.REMOVED:
            positions.append(max(1, following - 1))
    return positions


def _innermost_functions(enclosing: Sequence[Definition], positions: Sequence[int]) -> list[Definition]:
    """For each changed line, the smallest function holding it; each function once, in order."""
    chosen: dict[tuple[int, int], Definition] = {}
    for n in positions:
        holding = [d for d in enclosing if d.kind is Kind.FUNCTION and d.contains(n)]
        if holding:
            inner = min(holding, key=lambda d: d.last - d.first)
            chosen.setdefault((inner.first, inner.last), inner)
    return list(chosen.values())


def _lines(text: str) -> list[str]:
    """The file's lines split as git splits them: on ``\n`` only."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _agrees(lines: Sequence[str], hunk: Hunk) -> bool:
    """Whether the head's ``lines`` hold the hunk's added and unchanged lines where it says."""
    for line in hunk.lines:
        number = line.new_no
        if number is not None and (
            number > len(lines) or lines[number - 1].rstrip("\r") != line.text.rstrip("\r")
        ):
            return False
    return True
