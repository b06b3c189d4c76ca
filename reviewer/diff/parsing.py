"""The diff data model, and the parsers that build it from GitLab's per-file diffs or a unified diff.

Numbers follow GitLab: ``old_no`` counts lines of the file before the change, ``new_no`` after it;
an added line has no ``old_no``, a removed line no ``new_no``, a context line both.

Parsing: unidiff reads the hunks; this module reads the file headers (git's extended headers,
quoted names, ``a/``/``b/`` prefixes) and GitLab's header-less per-file texts. Lines are split on
``\n`` only, as git and GitLab do: a lone ``\r`` (or form feed, or U+2028) inside a line stays in it.
A diff that cannot be read raises ``DiffParseError``; in a git diff, whose ``diff --git`` lines
bound every file unambiguously, one unreadable file is returned marked ``not_reviewed`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError
from unidiff.patch import Hunk as UnidiffHunk
from unidiff.patch import PatchedFile

from reviewer.diff.git_header import (
    DEV_NULL,
    git_paths,
    is_binary_notice,
    read_git_header,
    strip_prefix,
    unquote,
)
from reviewer.errors import ReviewerError


class LineKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CONTEXT = "context"


class FileStatus(StrEnum):
    ADDED = "added"
    DELETED = "deleted"
    RENAMED = "renamed"
    MODIFIED = "modified"


@dataclass(frozen=True, slots=True)
class DiffRefs:
    """The three SHAs of a merge request version; every inline position carries them."""

    base_sha: str
    start_sha: str
    head_sha: str


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: LineKind
    old_no: int | None
    new_no: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[DiffLine, ...]
    section: str = ""  # the text git prints after the second @@ (often the enclosing function)

    def part(self, start: int, stop: int) -> Hunk:
        """The hunk of ``lines[start:stop]``, its header numbers counted again."""
        lines = self.lines[start:stop]
        old_before = sum(1 for ln in self.lines[:start] if ln.old_no is not None)
        new_before = sum(1 for ln in self.lines[:start] if ln.new_no is not None)
        return Hunk(
            old_start=self.old_start + old_before if self.old_len else self.old_start,
            old_len=sum(1 for ln in lines if ln.old_no is not None),
            new_start=self.new_start + new_before if self.new_len else self.new_start,
            new_len=sum(1 for ln in lines if ln.new_no is not None),
            lines=lines,
            section=self.section,
        )


@dataclass(frozen=True, slots=True)
class FileDiff:
    old_path: str
    new_path: str
    status: FileStatus
    hunks: tuple[Hunk, ...] = ()
    is_binary: bool = False
    too_large: bool = False  # GitLab withheld the text (too_large or collapsed) and no other route had it
    mode_changed: bool = False
    not_reviewed: str | None = None  # why this file is not reviewed, when it is not
    generated: bool = False  # GitLab marked it generated (``generated_file``); the planner decides

    @property
    def path(self) -> str:
        """The path people know the file by: the new one, or the old one for a deleted file."""
        return self.old_path if self.status is FileStatus.DELETED else self.new_path

    @property
    def added_lines(self) -> int:
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind is LineKind.ADDED)

    @property
    def removed_lines(self) -> int:
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind is LineKind.REMOVED)


@dataclass(frozen=True, slots=True)
class MergeRequestDiff:
    """Everything a review needs to know about one version of a merge request's changes."""

    refs: DiffRefs
    files: tuple[FileDiff, ...]
    title: str = ""
    description: str = ""
    source_branch: str = ""
    target_branch: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class DiffParseError(ReviewerError):
    """The text is not a diff this module can read (malformed, or a format GitLab never sends)."""


WITHHELD = "too large for GitLab's diff API"
BINARY = "binary file"

_KINDS = {"+": LineKind.ADDED, "-": LineKind.REMOVED, " ": LineKind.CONTEXT}
_PLACEHOLDER_HEADER = ("--- a\n", "+++ b\n")  # lets unidiff read hunks that come without a file header
_CONTEXT_HUNK = re.compile(r"\*\*\* \d+(,\d+)? \*\*\*\*\s*$")  # "*** 1,7 ****" never starts a unified line
_OTHER_FORMATS = (
    (_CONTEXT_HUNK, "a context diff (diff -c)"),
    (re.compile(r"\*{15}\s*$"), "a context diff (diff -c)"),
    (re.compile(r"\d+(,\d+)?[acd]\d+(,\d+)?\s*$"), "a normal diff (diff without -u)"),
    (re.compile(r"\d+(,\d+)?[acd]\s*$"), "an ed script (diff -e)"),
    (re.compile(r"[ad]\d+ \d+\s*$"), "an RCS diff (diff -n)"),
)
_UNIDIFF_MESSAGES = {
    "Hunk is shorter than expected": "a hunk has fewer lines than its @@ header says (truncated diff?)",
    "Hunk is longer than expected": "a hunk has more lines than its @@ header says",
}


# -- GitLab's per-file diffs -------------------------------------------------------------------


def parse_gitlab_diffs(entries: Iterable[Mapping[str, Any]]) -> list[FileDiff]:
    """Files from ``GET /projects/:id/merge_requests/:iid/diffs`` entries, in their order.

    A file whose text cannot be read comes back with ``not_reviewed`` saying why; only an entry
    without paths raises ``DiffParseError``.
    """
    return [_from_gitlab_entry(number, entry) for number, entry in enumerate(entries, 1)]


def _from_gitlab_entry(number: int, entry: Mapping[str, Any]) -> FileDiff:
    old_path, new_path = entry.get("old_path") or "", entry.get("new_path") or ""
    if not isinstance(old_path, str) or not isinstance(new_path, str) or not (old_path or new_path):
        raise DiffParseError(f"diff entry {number} has no old_path and new_path")
    file = FileDiff(
        old_path=old_path or new_path,
        new_path=new_path or old_path,
        status=_gitlab_status(entry, old_path, new_path),
        mode_changed=_is_mode(entry.get("a_mode"))
        and _is_mode(entry.get("b_mode"))
        and entry.get("a_mode") != entry.get("b_mode"),
        generated=bool(entry.get("generated_file")),
    )
    text = entry.get("diff") or ""
    if not text:
        if entry.get("too_large") or entry.get("collapsed"):
            return replace(file, too_large=True, not_reviewed=WITHHELD)
        return file
    lines = _skip_file_header(_split_lines(text))
    if lines and is_binary_notice(lines[0]):
        return replace(file, is_binary=True, not_reviewed=BINARY)
    try:
        return replace(file, hunks=_parse_hunks(lines, strict=True))
    except DiffParseError as exc:
        return replace(file, not_reviewed=f"diff could not be parsed: {exc}")


def _gitlab_status(entry: Mapping[str, Any], old_path: str, new_path: str) -> FileStatus:
    if entry.get("new_file"):
        return FileStatus.ADDED
    if entry.get("deleted_file"):
        return FileStatus.DELETED
    if entry.get("renamed_file") or (old_path and new_path and old_path != new_path):
        return FileStatus.RENAMED
    return FileStatus.MODIFIED


def _is_mode(mode: Any) -> bool:
    """A real file mode; GitLab sends "0" for the missing side of an added or deleted file."""
    return isinstance(mode, str) and mode.strip("0") != ""


def _skip_file_header(lines: list[str]) -> list[str]:
    """GitLab's text starts at the first ``@@``; tolerate a git file header before it anyway."""
    start = 0
    while start < len(lines) and lines[start].startswith(("diff --git ", "index ", "--- ", "+++ ")):
        start += 1
    return lines[start:]


# -- unified diffs -----------------------------------------------------------------------------


def parse_unified(text: str) -> list[FileDiff]:
    """Files from a whole unified diff: git diff/format-patch/raw_diffs, hg, svn, plain ``diff -u``.

    Raises ``DiffParseError`` for formats GitLab never sends (context, normal, ed, RCS) and for
    malformed diffs, except that in a git diff one file that cannot be read comes back with
    ``not_reviewed`` saying why, beside the files that could. Text around the diff (mail headers,
    commit messages, ``Index:`` lines) and after a hunk's counted lines is skipped, as ``git apply``
    and ``patch`` skip it. Pass the text as read, not through universal newlines: a lone ``\\r`` is
    part of its line.
    """
    lines = _split_lines(text)
    context = next((number for number, line in enumerate(lines, 1) if _CONTEXT_HUNK.match(line)), None)
    if context is not None:  # refused even beside unified files: skipping it would drop a file unseen
        raise DiffParseError(f"line {context}: {_unsupported('a context diff (diff -c)')}")
    starts = [i for i, line in enumerate(lines) if line.startswith("diff --git ")]
    files = _parse_git(lines, starts) if starts else _parse_plain(lines)
    if not files and text.strip():
        raise DiffParseError(_why_no_diff(lines))
    return files


def _unsupported(kind: str) -> str:
    return f"this is {kind}; only unified diffs (diff -u, git diff) are supported"


def _why_no_diff(lines: Sequence[str]) -> str:
    for pattern, kind in _OTHER_FORMATS:
        if any(pattern.match(line) for line in lines):
            return _unsupported(kind)
    return "no unified diff found: expected file headers ('diff --git', or '---' and '+++') and '@@' hunks"


def _parse_plain(lines: list[str]) -> list[FileDiff]:
    try:
        patch = PatchSet(lines)
    except UnidiffParseError as exc:
        raise DiffParseError(_explain(exc)) from None
    return [_from_patched_file(patched) for patched in patch]


def _from_patched_file(patched: PatchedFile) -> FileDiff:
    old, new = unquote(patched.source_file.rstrip("\r")), unquote(patched.target_file.rstrip("\r"))
    if (old.startswith("a/") and new.startswith("b/")) or DEV_NULL in (old, new):
        old, new = strip_prefix(old, ("a/", "b/"), 0), strip_prefix(new, ("a/", "b/"), 1)
    # without git's "new file mode", a "-0,0" hunk is how svn and bzr say "added"
    status, old, new = _classify(old, new, added=patched.is_added_file, deleted=patched.is_removed_file)
    hunks = tuple(_convert_hunk(h) for h in patched)
    if patched.is_binary_file:
        return FileDiff(old, new, status, hunks, is_binary=True, not_reviewed=BINARY)
    return FileDiff(old, new, status, hunks)


def _classify(old: str, new: str, *, added: bool, deleted: bool) -> tuple[FileStatus, str, str]:
    """Status and paths; an added or deleted file gets its one real path on both sides, as in GitLab."""
    if added or old == DEV_NULL:
        return FileStatus.ADDED, new, new
    if deleted or new == DEV_NULL:
        return FileStatus.DELETED, old, old
    return (FileStatus.RENAMED if old != new else FileStatus.MODIFIED), old, new


def _parse_git(lines: list[str], starts: list[int]) -> list[FileDiff]:
    stray = next((i for i in range(starts[0]) if lines[i].startswith("@@ -")), None)
    if stray is not None:
        raise DiffParseError(f"line {stray + 1}: a hunk before the first 'diff --git' header")
    bounds = [*starts, len(lines)]
    return [_parse_git_file(lines[a:b], a + 1) for a, b in pairwise(bounds)]


def _parse_git_file(section: list[str], line_no: int) -> FileDiff:
    body = next((i for i, line in enumerate(section) if line.startswith("@@ -")), len(section))
    header = read_git_header(section[:body])
    paths = git_paths(header)
    if paths is None:
        raise DiffParseError(f"line {line_no}: cannot tell the file names from {section[0].rstrip()!r}")
    status, old, new = _classify(*paths, added=header.new_file, deleted=header.deleted)
    mode_changed = None not in (header.old_mode, header.new_mode) and header.old_mode != header.new_mode
    file = FileDiff(old, new, status, is_binary=header.binary, mode_changed=mode_changed)
    if header.binary:
        return replace(file, not_reviewed=BINARY)
    if body == len(section):
        return file
    try:
        return replace(file, hunks=_parse_hunks(section[body:], strict=False))
    except DiffParseError as exc:
        return replace(file, not_reviewed=f"diff could not be parsed (line {line_no + body}): {exc}")


# -- hunks -------------------------------------------------------------------------------------


def _parse_hunks(lines: Sequence[str], *, strict: bool) -> tuple[Hunk, ...]:
    """The hunks of one file, from its first ``@@`` line on.

    ``strict`` (GitLab's texts, which hold nothing but hunks) refuses any line that belongs to no
    hunk; otherwise what follows a hunk's counted lines is skipped, as ``git apply`` does.
    """
    try:
        patch = PatchSet([*_PLACEHOLDER_HEADER, *lines])
    except UnidiffParseError as exc:
        raise DiffParseError(_explain(exc)) from None
    if len(patch) != 1:
        raise DiffParseError("another file's header appears among the hunks")
    if strict:
        consumed = sum(1 + len(h) for h in patch[0])  # each unidiff line object is one input line
        if consumed != len(lines):
            raise DiffParseError(f"line {consumed + 1} belongs to no hunk: {lines[consumed][:80]!r}")
    return tuple(_convert_hunk(h) for h in patch[0])


def _convert_hunk(hunk: UnidiffHunk) -> Hunk:
    lines = tuple(
        DiffLine(_KINDS[ln.line_type], ln.source_line_no, ln.target_line_no, _strip_eol(ln.value))
        for ln in hunk
        if ln.line_type in _KINDS  # skips "\\ No newline" markers and blank lines after the hunk
    )
    return Hunk(
        hunk.source_start,
        hunk.source_length,
        hunk.target_start,
        hunk.target_length,
        lines,
        hunk.section_header.rstrip("\r"),
    )


def _strip_eol(value: str) -> str:
    value = value[:-1] if value.endswith("\n") else value
    return value[:-1] if value.endswith("\r") else value


def _explain(exc: UnidiffParseError) -> str:
    message = str(exc)
    prefix = "Hunk diff line expected: "
    if message.startswith(prefix):
        line = message[len(prefix) :].rstrip("\n")[:80]
        return f"expected a hunk line (' ', '+', '-' or '\\'), got {line!r}"
    return _UNIDIFF_MESSAGES.get(message, message)


def _split_lines(text: str) -> list[str]:
    """Lines with their ``\\n``, split on ``\\n`` only (``str.splitlines`` also splits on ``\\r``)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines
