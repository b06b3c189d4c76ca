"""What the one summary note per merge request says, as data; ``markdown.summary`` writes it.

It says what was reviewed and how (head, tier, aspects, prompt versions), what was found, every
finding that could not go inline and why, how many findings were dropped for naming no file of the
MR or on a second look, every file that was not reviewed and why, what failed, and what it cost. A
clean MR gets a short note and no inline noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reviewer.model.usage import Usage
from reviewer.review.engine import Failure
from reviewer.review.findings import Finding
from reviewer.review.planning import Plan


@dataclass(frozen=True, slots=True)
class SummaryInput:
    head_sha: str
    plan: Plan
    inline: list[Finding]
    in_summary: list[tuple[Finding, str]]
    already_posted: int
    over_cap: list[Finding]
    failures: list[Failure]
    usage: Usage
    prompt_versions: dict[str, str]
    aspects: tuple[str, ...]
    model_configured: bool = True
    since: str | None = None  # a follow-up review: what changed since this head
    resolved: int = 0  # earlier threads resolved because their line changed
    retried: tuple[str, ...] = ()  # files reviewed again: their model calls had failed before
    unreviewed: tuple[str, ...] = ()  # files whose model calls failed: the next trigger reviews them
    off_diff: int = 0  # model findings dropped: their path is no file of the MR
    mask: Callable[[str], str] | None = None  # the review's secret masker, run over every piece
    second_look_dropped: int = 0  # model findings the second look dropped: never posted
    second_look_problem: str = ""  # why the second look could not check (every finding was kept)
