"""The diff data model, and the parsers that build it from GitLab's per-file diffs or a unified diff.

Numbers follow GitLab: ``old_no`` counts lines of the file before the change, ``new_no`` after it;
an added line has no ``old_no``, a removed line no ``new_no``, a context line both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
