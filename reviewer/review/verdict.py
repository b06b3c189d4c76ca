"""The verdict a review gives the merge request, as a careful reviewer would: looks good, comments,
or changes requested, from the findings that stand open on it.

A finding stands while its thread is open or the summary lists it; it blocks when the team's policy
says its aspect and severity do (by default critical and high security findings). A recorded
override (a break-glass label or ``/ai-review override <reason>`` from a Maintainer) turns a
blocking verdict into an overridden one: the summary says who and why, the bot's reviewer state
no longer requests changes, and the bot still never approves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reviewer.review.findings import Severity

__all__ = ["Override", "Standing", "Verdict", "Verdicts", "judge"]


class Verdict(StrEnum):
    LOOKS_GOOD = "looks good"
    COMMENTS = "comments"
    CHANGES_REQUESTED = "changes requested"


@dataclass(frozen=True, slots=True)
class Standing:
    """A finding open on the MR: in a thread of the bot not resolved, or listed in the summary."""

    fingerprint: str
    aspect: str
    severity: Severity
    note_id: int | None = None  # the note of its thread, when it has one


@dataclass(frozen=True, slots=True)
class Override:
    """A break glass: who turned a blocking verdict into an overridden one, and why.

    A label override covers whatever blocks while the label is on the MR; a command override
    covers the blocking findings it was given for (a new blocking finding after it blocks again)."""

    by: str  # the username of who overrode
    reason: str  # the command's reason, or the label's name
    source: str  # "label" or "command"
    fingerprints: tuple[str, ...] = ()  # the blocking findings a command override covers

    def covers(self, blocking: Iterable[str]) -> bool:
        return self.source == "label" or set(blocking) <= set(self.fingerprints)

    def as_record(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "reason": self.reason,
            "source": self.source,
            "fingerprints": list(self.fingerprints),
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Override:
        return cls(
            str(data["by"]),
            str(data["reason"]),
            str(data["source"]),
            tuple(str(f) for f in data.get("fingerprints") or ()),
        )


@dataclass(frozen=True, slots=True)
class Verdicts:
    """The verdict and what it stands on."""

    verdict: Verdict
    blocking: tuple[Standing, ...]
    open: int  # findings standing open, blocking ones included
    complete: bool  # every file was reviewed
    override: Override | None = None  # the override applied to a blocking verdict

    @property
    def overridden(self) -> bool:
        return self.override is not None

    @property
    def reviewer_state(self) -> str:
        """GitLab's reviewer state for the bot: ``requested_changes`` while something blocks (and
        no override covers it), else ``reviewed``."""
        blocked = self.verdict is Verdict.CHANGES_REQUESTED and not self.overridden
        return "requested_changes" if blocked else "reviewed"

    @property
    def approvable(self) -> bool:
        """A clean verdict on a complete review: the bot may approve."""
        return self.verdict is Verdict.LOOKS_GOOD and self.complete


def judge(
    standing: Iterable[Standing],
    blocks: Callable[[str, Severity], bool],
    *,
    complete: bool,
    overrides: Iterable[Override] = (),
) -> Verdicts:
    """The verdict over the findings standing open (each fingerprint counted once); the first of
    ``overrides`` that covers what blocks is applied."""
    unique = {s.fingerprint: s for s in standing}
    blocking = tuple(s for s in unique.values() if blocks(s.aspect, s.severity))
    if blocking:
        fingerprints = [s.fingerprint for s in blocking]
        applied = next((o for o in overrides if o.covers(fingerprints)), None)
        return Verdicts(Verdict.CHANGES_REQUESTED, blocking, len(unique), complete, applied)
    verdict = Verdict.COMMENTS if unique else Verdict.LOOKS_GOOD
    return Verdicts(verdict, (), len(unique), complete)
