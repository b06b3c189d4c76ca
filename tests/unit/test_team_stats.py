"""Acceptance per aspect and prompt version, from a store of judged findings shaped like the
feedback store's (``judged(team=...)``), and the prompt versions a team's reviews used."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from reviewer.app.records import ReviewRecord
from reviewer.app.team_stats import Acceptance, JudgedFeedback, Rate, prompt_versions


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Posted:
    team: str
    aspect: str
    prompt_version: str


@dataclass(frozen=True)
class Judged:
    finding: Posted
    verdict: Verdict | None


class Store:
    def __init__(self, items: list[Judged]) -> None:
        self.items = items
        self.asked: list[str | None] = []

    def judged(self, *, since: float | None = None, team: str | None = None) -> Iterator[Judged]:
        self.asked.append(team)
        return iter([i for i in self.items if team is None or i.finding.team == team])


def _judged(aspect: str, version: str, verdict: Verdict | None, team: str = "payments") -> Judged:
    return Judged(Posted(team, aspect, version), verdict)


def test_acceptance_counts_accepted_among_the_judged_per_aspect_and_prompt_version() -> None:
    store = Store(
        [
            _judged("security", "v1", Verdict.ACCEPTED),
            _judged("security", "v1", Verdict.ACCEPTED),
            _judged("security", "v2", Verdict.DISMISSED),
            _judged("style", "v1", None),
            _judged("style", "v1", Verdict.DISMISSED),
            _judged("security", "v1", Verdict.DISMISSED, team="web"),
        ]
    )

    acceptance = JudgedFeedback(store).acceptance("payments")

    assert store.asked == ["payments"]
    assert acceptance.by_aspect == {"security": Rate(3, 2, 1), "style": Rate(2, 0, 1)}
    assert acceptance.by_prompt_version == {"v1": Rate(4, 2, 1), "v2": Rate(1, 0, 1)}
    assert acceptance.by_aspect["security"].ratio == 2 / 3
    assert acceptance.total == Rate(5, 2, 2)


def test_a_team_without_judged_findings_has_no_rate_rather_than_zero() -> None:
    acceptance = JudgedFeedback(Store([_judged("style", "v1", None)])).acceptance("payments")
    assert acceptance.by_aspect["style"].ratio is None
    assert Acceptance().total.ratio is None


def test_plain_text_verdicts_count_like_enum_ones() -> None:
    item = Judged(Posted("payments", "style", ""), "accepted")  # type: ignore[arg-type]
    acceptance = JudgedFeedback(Store([item])).acceptance("payments")
    assert acceptance.by_prompt_version == {"-": Rate(1, 1, 0)}


def _record(finished_at: float, versions: dict[str, str]) -> ReviewRecord:
    return ReviewRecord("job", 1, 1, "reviewed", finished_at - 1, finished_at, prompt_versions=versions)


def test_prompt_versions_in_use_are_counted_per_review_newest_first() -> None:
    records = [
        _record(300.0, {"security+style": "new"}),
        _record(200.0, {"security": "sec1", "style": "sty1"}),
        _record(100.0, {"security+style": "old"}),
        _record(150.0, {"security+style": "old"}),
        _record(50.0, {}),
    ]

    uses = prompt_versions(records)

    assert [(u.version, u.aspects, u.reviews, u.last_used) for u in uses] == [
        ("new", "security+style", 1, 300.0),
        ("sec1", "security", 1, 200.0),
        ("sty1", "style", 1, 200.0),
        ("old", "security+style", 2, 150.0),
    ]
