"""What the team page shows beyond the records: acceptance of the bot's findings (from the recorded
feedback, when a feedback store is connected) and the prompt versions a team's reviews used.

``FeedbackStats`` is what the pages need of feedback; ``JudgedFeedback`` implements it over a store
that lists each posted finding with the verdict people gave it (``judged(team=...)``: the finding's
aspect and prompt version, and ``accepted``, ``dismissed`` or no verdict yet). Without one, the
pages say that acceptance is not recorded yet rather than show a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reviewer.app.records import ReviewRecord


@dataclass(frozen=True, slots=True)
class Rate:
    """Findings posted, and how many of them people accepted or dismissed."""

    posted: int = 0
    accepted: int = 0
    dismissed: int = 0

    @property
    def judged(self) -> int:
        return self.accepted + self.dismissed

    @property
    def ratio(self) -> float | None:
        """Accepted among the judged ones; None before any was judged."""
        return self.accepted / self.judged if self.judged else None

    def __add__(self, other: Rate) -> Rate:
        return Rate(
            self.posted + other.posted, self.accepted + other.accepted, self.dismissed + other.dismissed
        )


@dataclass(frozen=True, slots=True)
class Acceptance:
    by_aspect: Mapping[str, Rate] = field(default_factory=dict)
    by_prompt_version: Mapping[str, Rate] = field(default_factory=dict)

    @property
    def total(self) -> Rate:
        return sum(self.by_aspect.values(), Rate())


class FeedbackStats(Protocol):
    def acceptance(self, team: str) -> Acceptance:
        """What people did with the findings posted for ``team``'s reviews."""
        ...


class _Posted(Protocol):
    @property
    def aspect(self) -> str: ...

    @property
    def prompt_version(self) -> str: ...


class _Judged(Protocol):
    @property
    def finding(self) -> _Posted: ...

    @property
    def verdict(self) -> Any: ...  # None, or an enum (or text) "accepted" / "dismissed"


class JudgedSource(Protocol):
    def judged(self, *, since: float | None = None, team: str | None = None) -> Iterable[_Judged]: ...


class JudgedFeedback:
    """``FeedbackStats`` over a store of judged findings (the feedback store of ``reviewer stats``)."""

    def __init__(self, source: JudgedSource) -> None:
        self._source = source

    def acceptance(self, team: str) -> Acceptance:
        by_aspect: dict[str, Rate] = {}
        by_version: dict[str, Rate] = {}
        for item in self._source.judged(team=team):
            verdict = str(getattr(item.verdict, "value", item.verdict or ""))
            one = Rate(1, int(verdict == "accepted"), int(verdict == "dismissed"))
            aspect, version = item.finding.aspect, item.finding.prompt_version or "-"
            by_aspect[aspect] = by_aspect.get(aspect, Rate()) + one
            by_version[version] = by_version.get(version, Rate()) + one
        return Acceptance(by_aspect, by_version)


@dataclass(frozen=True, slots=True)
class PromptVersionUse:
    version: str
    aspects: str  # the aspects of the model calls that used it, e.g. "security+style"
    reviews: int
    last_used: float


def prompt_versions(records: Sequence[ReviewRecord]) -> list[PromptVersionUse]:
    """The prompt versions the given reviews used, the most recently used first."""
    seen: dict[tuple[str, str], tuple[int, float]] = {}
    for record in records:
        for aspects, version in record.prompt_versions.items():
            count, last = seen.get((version, aspects), (0, 0.0))
            seen[(version, aspects)] = (count + 1, max(last, record.finished_at))
    uses = [PromptVersionUse(v, a, count, last) for (v, a), (count, last) in seen.items()]
    return sorted(uses, key=lambda use: (-use.last_used, use.aspects))
