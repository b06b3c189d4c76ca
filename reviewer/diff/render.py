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
with just enough around it. Paths and line breaks inside a line (``\\r``, form feed, U+2028...)
are escaped so that one diff line is always one rendered line. ``masker`` (the secrets
detector's) runs over the finished text, so no secret reaches the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

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


def render_hunk(hunk: Hunk, *, context: int = 3) -> str:
    """One hunk: its ``@@`` line and its lines, unchanged ones trimmed to ``context`` around each
    change. A hunk without changes renders as nothing."""
    lines = hunk.lines
    changed = [i for i, line in enumerate(lines) if line.kind is not _CONTEXT]
    if not changed:
        return ""
    section = hunk.section.strip()
    out = [f"@@ {_single_line(section)}\n" if section else "@@\n"]
    for n, (start, stop) in enumerate(_windows(changed, len(lines), max(context, 0))):
        if n:
            out.append("@@\n")
        out.extend(map(render_line, lines[start:stop]))
    text = "".join(out)
    return _LINE_BREAKS.sub(_escape, text) if _LINE_BREAKS.search(text) else text


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
