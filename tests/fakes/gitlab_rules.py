"""GitLab's rules for inline (diff) positions, as pure functions.

Sources, checked against GitLab's own code and docs:

- Discussions API, "Create a new thread in the merge request diff" and "Line code"
  (doc/api/discussions.md): ``position_type=text``, the three SHAs of the latest MR version,
  ``old_path`` and ``new_path`` both given; an added line takes ``new_line`` only, a removed line
  ``old_line`` only, an unchanged line both; ``line_range.start/end`` carry ``line_code`` and
  ``type`` (``new`` for added lines, otherwise ``old``).
- ``Gitlab::Diff::Parser`` (lib/gitlab/diff/parser.rb): counters start at the hunk header's
  numbers; ``+`` advances the new counter, ``-`` the old one, anything else both; a
  ``\\ No newline at end of file`` line advances nothing and, like the ``@@`` line, takes no comment;
  a diff that starts with ``Binary files`` has no lines at all.
- ``Gitlab::Diff::File#line_code`` / ``Gitlab::Git.diff_line_code``: ``sha1(file_path)_<old>_<new>``
  where ``<old>``/``<new>`` are the parser's counters (``old_pos``/``new_pos``) at that line, and
  ``file_path`` is ``new_path`` (GitLab's ``new_path`` of a deleted file is its old path).
- ``DiffNote`` validation (app/models/diff_note.rb, lib/gitlab/diff/formatters/text_formatter.rb):
  the note's line code is the code of the diff line whose ``old_line``/``new_line`` equal the
  position's exactly; none found gives ``line_code can't be blank, must be a valid line code``;
  no line at all adds ``position is incomplete``. Grape rejects a position without its SHAs or
  ``position_type`` before any of that (``position[base_sha] is missing``).

Deliberately stricter than GitLab (GitLab would accept, then show the thread as outdated or
misplaced, which is just as wrong for a review bot):

- the SHAs must be those of the MR's *latest* version;
- ``old_path`` and ``new_path`` must name exactly one file of that version's diff;
- a ``line_range`` is checked too: both codes must be lines of the diff, types must fit the lines,
  the end must not precede the start, and the position's own line must be the range's end
  (the line GitLab's UI anchors a multi-line comment to).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

LINE_CODE_ERROR = '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid line code"]}'
INCOMPLETE_ERROR = (
    '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid line code"], '
    ':position=>["is incomplete"]}'
)
SHA_KEYS = ("base_sha", "start_sha", "head_sha")
POSITION_TYPES = ("text", "image", "file")
BINARY_NOTICE = re.compile(r"\ABinary files (.*) and (.*) differ")
HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")

ADDED, REMOVED, CONTEXT = "added", "removed", "context"


class DiffLine(NamedTuple):
    """One commentable line of a diff, numbered the way Gitlab::Diff::Parser numbers it."""

    kind: str  # added | removed | context
    old_no: int | None  # the position's old_line for this line (None for an added line)
    new_no: int | None  # the position's new_line for this line (None for a removed line)
    old_counter: int  # Line#old_pos: the <old> part of the line code
    new_counter: int  # Line#new_pos: the <new> part of the line code


class PositionError(ValueError):
    """Why a position is refused: ``message`` is GitLab's answer, ``reason`` says it plainly."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(f"{message} ({reason})")
        self.message = message
        self.reason = reason


def line_code(path: str, old: int, new: int) -> str:
    """``Gitlab::Git.diff_line_code``: ``<sha1 of the path>_<old>_<new>``."""
    return f"{hashlib.sha1(path.encode('utf-8')).hexdigest()}_{old}_{new}"


def is_binary_diff(diff_text: str) -> bool:
    """``Gitlab::Git::Diff.has_binary_notice?``: GitLab's per-file diff of a binary file."""
    return bool(BINARY_NOTICE.match(diff_text))


def diff_lines(diff_text: str) -> list[DiffLine]:
    """The commentable lines of one file's diff, in order (hunk headers and ``\\`` lines skipped).

    Accepts GitLab's per-file ``diff`` (starting at the first ``@@``) or a text with git's file
    header in front: like GitLab's parser, everything before the first hunk header is ignored.
    Lines are split on ``\\n`` only, so CRLF content keeps its ``\\r``.
    """
    if not diff_text or is_binary_diff(diff_text):
        return []
    rows: list[DiffLine] = []
    old = new = 0
    in_hunk = False
    raw_lines = diff_text.split("\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines.pop()  # the text's final newline ends the last line, it is not a line
    for raw in raw_lines:
        header = HUNK_HEADER.match(raw)
        if header:
            old, new, in_hunk = int(header.group(1)), int(header.group(2)), True
        elif not in_hunk or raw.startswith("\\"):
            continue
        elif raw.startswith("+"):
            rows.append(DiffLine(ADDED, None, new, old, new))
            new += 1
        elif raw.startswith("-"):
            rows.append(DiffLine(REMOVED, old, None, old, new))
            old += 1
        else:  # " " context, or a line some tool stripped to "": GitLab counts it as context
            rows.append(DiffLine(CONTEXT, old, new, old, new))
            old += 1
            new += 1
    return rows


def file_path(entry: Mapping[str, Any]) -> str:
    """``Gitlab::Diff::File#file_path``: the path a file's line codes hash."""
    return str(entry.get("new_path") or entry.get("old_path") or "")


def line_codes(entry: Mapping[str, Any]) -> dict[str, DiffLine]:
    """Every line code of one version-diff entry, mapped to its line."""
    path = file_path(entry)
    return {line_code(path, ln.old_counter, ln.new_counter): ln for ln in diff_lines(entry.get("diff") or "")}


def positions_for_file(entry: Mapping[str, Any], refs: Mapping[str, str]) -> list[dict[str, Any]]:
    """The single-line position GitLab accepts for each commentable line of ``entry``."""
    base = {
        "position_type": "text",
        **{key: refs[key] for key in SHA_KEYS},
        "old_path": entry["old_path"],
        "new_path": entry["new_path"],
    }
    return [
        {**base, "old_line": ln.old_no, "new_line": ln.new_no} for ln in diff_lines(entry.get("diff") or "")
    ]


def check_position(
    version_diffs: list[dict[str, Any]], refs: Mapping[str, str], position: Mapping[str, Any]
) -> str | None:
    """None when GitLab (strictly read, see the module doc) accepts ``position``, else its message.

    ``version_diffs``: the latest version's files as GitLab lists them (``old_path``, ``new_path``,
    full ``diff`` text); ``refs``: that version's ``base_sha``, ``start_sha``, ``head_sha``.
    """
    try:
        validate_position(version_diffs, refs, position)
    except PositionError as error:
        return error.message
    return None


def error_body(message: str) -> dict[str, str]:
    """The JSON body GitLab answers a refused position with: Grape errors use ``error``."""
    if message.startswith("400 Bad request"):
        return {"message": message}
    return {"error": message}


def validate_position(
    version_diffs: Iterable[Mapping[str, Any]], refs: Mapping[str, str], position: Mapping[str, Any]
) -> DiffLine:
    """The diff line ``position`` anchors to; raises ``PositionError`` like GitLab refuses it."""
    if not isinstance(position, Mapping):
        raise PositionError("position is invalid", "position must be a hash")
    _check_grape_params(position)
    if position["position_type"] != "text":
        raise PositionError(INCOMPLETE_ERROR, "only text positions are modelled")
    old_line, new_line = _int_param(position, "old_line"), _int_param(position, "new_line")
    incomplete = old_line is None and new_line is None
    fail = INCOMPLETE_ERROR if incomplete else LINE_CODE_ERROR
    stale = [key for key in SHA_KEYS if position[key] != refs.get(key)]
    if stale:
        raise PositionError(fail, f"{', '.join(stale)} not those of the latest MR version")
    entry = _find_file(version_diffs, position, fail)
    if incomplete:
        raise PositionError(fail, "neither old_line nor new_line given")
    lines = diff_lines(entry.get("diff") or "")
    if not lines:
        raise PositionError(fail, f"{file_path(entry)} has no commentable lines (binary, empty or withheld)")
    target = next((ln for ln in lines if (ln.old_no, ln.new_no) == (old_line, new_line)), None)
    if target is None:
        raise PositionError(fail, _miss_reason(lines, old_line, new_line))
    if position.get("line_range") is not None:
        _check_line_range(entry, lines, target, position["line_range"])
    return target


def _check_grape_params(position: Mapping[str, Any]) -> None:
    missing = [f"position[{key}] is missing" for key in (*SHA_KEYS, "position_type") if not position.get(key)]
    if missing:
        raise PositionError(", ".join(missing), "required position parameters missing")
    if position["position_type"] not in POSITION_TYPES:
        raise PositionError("position[position_type] does not have a valid value", "bad position_type")
    for key in ("old_line", "new_line"):
        _int_param(position, key)


def _int_param(params: Mapping[str, Any], key: str) -> int | None:
    """Grape's Integer coercion: ints and digit strings pass, null/absent is None."""
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PositionError(f"position[{key}] is invalid", f"{key} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    raise PositionError(f"position[{key}] is invalid", f"{key} must be an integer")


def _find_file(
    version_diffs: Iterable[Mapping[str, Any]], position: Mapping[str, Any], fail: str
) -> Mapping[str, Any]:
    old_path, new_path = position.get("old_path"), position.get("new_path")
    if not old_path or not new_path:
        raise PositionError(fail, "old_path and new_path must both be given")
    for entry in version_diffs:
        if entry.get("old_path") == old_path and entry.get("new_path") == new_path:
            return entry
    raise PositionError(fail, f"no file {old_path!r} -> {new_path!r} in the latest version's diff")


def _miss_reason(lines: list[DiffLine], old_line: int | None, new_line: int | None) -> str:
    for ln in lines:
        if (new_line is not None and ln.new_no == new_line) or (
            old_line is not None and ln.old_no == old_line
        ):
            return (
                f"old_line={old_line}, new_line={new_line} does not match the {ln.kind} line there, "
                f"which needs old_line={ln.old_no}, new_line={ln.new_no}"
            )
    return f"old_line={old_line}, new_line={new_line} is outside every hunk"


def _check_line_range(
    entry: Mapping[str, Any], lines: list[DiffLine], target: DiffLine, line_range: Any
) -> None:
    if not isinstance(line_range, Mapping):
        raise PositionError(LINE_CODE_ERROR, "line_range must be a hash with start and end")
    codes = line_codes(entry)
    ends = [_range_end(codes, line_range.get(side), side) for side in ("start", "end")]
    start, end = ends
    if lines.index(end) < lines.index(start):
        raise PositionError(LINE_CODE_ERROR, "line_range end precedes its start")
    if end != target:
        raise PositionError(LINE_CODE_ERROR, "the position's own line must be the line_range's end")


def _range_end(codes: Mapping[str, DiffLine], end: Any, side: str) -> DiffLine:
    if not isinstance(end, Mapping) or not end.get("line_code"):
        raise PositionError(LINE_CODE_ERROR, f"line_range.{side}.line_code missing")
    line = codes.get(str(end["line_code"]))
    if line is None:
        raise PositionError(
            LINE_CODE_ERROR, f"line_range.{side}.line_code {end['line_code']} is no line of the diff"
        )
    wanted = {ADDED: ("new",), REMOVED: ("old",), CONTEXT: ("new", "old")}[line.kind]
    if end.get("type") not in wanted:
        raise PositionError(
            LINE_CODE_ERROR, f"line_range.{side}.type must be {' or '.join(wanted)} for a {line.kind} line"
        )
    for key, number in (("old_line", line.old_no), ("new_line", line.new_no)):
        given = end.get(key)
        if given not in (None, "") and (number is None or str(given).strip() != str(number)):
            raise PositionError(
                LINE_CODE_ERROR, f"line_range.{side}.{key}={given} does not match its line_code"
            )
    return line
