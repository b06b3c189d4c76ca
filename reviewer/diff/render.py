"""The diff as the model reads it: compact, every line numbered the way the answer must cite it.

Format (one legend line in the prompt explains it)::

    ## app/db.py (renamed from app/database.py)
    @@ def load(user_id):
    41   rows = query(user_id)
    42 + if not rows:
    17 - return None
    43 + return []

- ``## path`` starts a file, with ``(renamed from OLD)``, ``(new file)`` or ``(deleted)`` when so.
- ``@@`` starts a hunk, followed by the enclosing function or class when git named it; an ``@@``
  alone inside a hunk marks unchanged lines left out.
- Each line is ``NUMBER MARK code``. ``+`` (added) and `` `` (unchanged) lines carry their number
  in the new file (the answer's side "new"); ``-`` (removed) lines their number in the old file
  (side "old"). A blank line shows as its number and mark only.

Only ``context`` unchanged lines around each change are kept, so every changed line is sent once
with just enough around it. ``around`` adds lines of the file as the head has them (the signatures
of the enclosing function and class, the whole function when it is short): they read as unchanged
lines with their new-file numbers, an ``@@`` alone wherever lines are left out between them.

Paths and line breaks inside a line (``\\r``, form feed, U+2028...)
are escaped so that one diff line is always one rendered line. ``masker`` (the secrets
detector's) runs over the finished text, so no secret reaches the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from reviewer.diff.parsing import DiffLine, FileDiff, FileStatus, Hunk, LineKind

__all__ = ["render_file", "render_header", "render_hunk", "render_line"]

_ADDED, _REMOVED, _CONTEXT = LineKind.ADDED, LineKind.REMOVED, LineKind.CONTEXT

# Characters str.splitlines() and most readers treat as line ends, besides "\n" (which the
# parser already split on); and the control characters a path or section must not carry.
_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def render_file(
    file: FileDiff,
    *,
    hunks: Sequence[Hunk] | None = None,
    context: int = 3,
    masker: Callable[[str], str] | None = None,
) -> str:
    """``file`` (or only ``hunks`` of it) in the format above, ending with a newline."""
    parts = [render_header(file)]
    parts.extend(render_hunk(hunk, context=context) for hunk in (file.hunks if hunks is None else hunks))
    text = "".join(parts)
    return masker(text) if masker is not None else text


def render_header(file: FileDiff) -> str:
    """The ``## path`` line that starts a file (and each part of a file split across chunks)."""
    path = _single_line(file.path)
    if file.status is FileStatus.RENAMED and file.old_path != file.new_path:
        return f"## {path} (renamed from {_single_line(file.old_path)})\n"
    if file.status is FileStatus.ADDED:
        return f"## {path} (new file)\n"
    if file.status is FileStatus.DELETED:
        return f"## {path} (deleted)\n"
    return f"## {path}\n"


def render_hunk(hunk: Hunk, *, context: int = 3, around: Mapping[int, str] | None = None) -> str:
    """One hunk: its ``@@`` line and its lines, unchanged ones trimmed to ``context`` around each
    change. ``around`` maps new-file line numbers to the head's text of lines to show as well:
    those before or after the hunk, and unchanged lines of the hunk that trimming left out. A hunk
    without changes renders as nothing."""
    lines = hunk.lines
    changed = [i for i, line in enumerate(lines) if line.kind is not _CONTEXT]
    if not changed:
        return ""
    shown = {i for start, stop in _windows(changed, len(lines), max(context, 0)) for i in range(start, stop)}
    around = around or {}
    shown.update(i for i, line in enumerate(lines) if line.new_no in around)
    first, last = _new_range(hunk)
    # git's guess at the enclosing function is left out when the head's own lines show it
    section = "" if any(n < first for n in around) else hunk.section.strip()
    out = [f"@@ {_single_line(section)}\n" if section else "@@\n"]
    # Each line written with where it sits: before the hunk and after it by its new-file number,
    # inside it by its index; a gap between two written lines gets an ``@@`` alone.
    previous: tuple[str, int] | None = None
    for where, key, line in [
        *(
            ("before", n, DiffLine(_CONTEXT, None, n, text))
            for n, text in sorted(around.items())
            if n < first
        ),
        *(("hunk", i, lines[i]) for i in sorted(shown)),
        *(("after", n, DiffLine(_CONTEXT, None, n, text)) for n, text in sorted(around.items()) if n > last),
    ]:
        if previous is not None and not _adjacent(previous, (where, key), len(lines), first, last):
            out.append("@@\n")
        out.append(render_line(line))
        previous = (where, key)
    text = "".join(out)
    return _LINE_BREAKS.sub(_escape, text) if _LINE_BREAKS.search(text) else text


def _new_range(hunk: Hunk) -> tuple[int, int]:
    """The new-file lines a hunk covers, [first, last]; a hunk that only removes lines covers
    none: the removal sits between lines ``new_start`` and ``new_start + 1``."""
    if hunk.new_len:
        return hunk.new_start, hunk.new_start + hunk.new_len - 1
    return hunk.new_start + 1, hunk.new_start


def _adjacent(previous: tuple[str, int], current: tuple[str, int], size: int, first: int, last: int) -> bool:
    """Whether nothing lies between two written lines (see ``render_hunk``)."""
    (was, a), (now, b) = previous, current
    if was == now:
        return b == a + 1
    if was == "before":
        return now == "hunk" and b == 0 and a == first - 1
    return was == "hunk" and a == size - 1 and b == last + 1


def _windows(changed: list[int], total: int, context: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of the lines within ``context`` of a changed line; ranges that would
    touch or overlap are merged, so a gap separates any two."""
    windows: list[tuple[int, int]] = []
    start = max(0, changed[0] - context)
    previous = changed[0]
    for i in changed:
        if i - previous > 2 * context + 1:
            windows.append((start, previous + context + 1))
            start = i - context
        previous = i
    windows.append((start, min(total, previous + context + 1)))
    return windows


def render_line(line: DiffLine) -> str:
    """One ``NUMBER MARK code`` line, with its newline (no escaping: ``render_hunk`` does that)."""
    kind, text = line.kind, line.text
    if kind is _ADDED:
        return f"{line.new_no} + {text}\n" if text else f"{line.new_no} +\n"
    if kind is _REMOVED:
        return f"{line.old_no} - {text}\n" if text else f"{line.old_no} -\n"
    return f"{line.new_no}   {text}\n" if text else f"{line.new_no}\n"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f"}.get(char, f"\\u{ord(char):04x}")


def _single_line(text: str) -> str:
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text
