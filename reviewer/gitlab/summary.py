"""What the one summary note per merge request says, as data; ``markdown.summary`` writes it.

It opens with the verdict (looks good, comments, changes requested; an override with who and why),
then says what was reviewed and how (head, tier, aspects, prompt versions; a rebase that changed
none of the MR's own changes), what was found (each finding on a line linked to its thread),
every finding that could not go inline and why, how many findings were dropped for naming no file
of the MR, every file that was not reviewed and why, what failed, settings that were not applied,
the bot's approval, a per-file table for MRs of more than a few files, and what it cost. A clean
MR gets a short note and no inline noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from reviewer.diff.parsing import FileDiff
from reviewer.model.usage import Usage
from reviewer.review.engine import Failure
from reviewer.review.findings import Finding
from reviewer.review.planning import Plan
from reviewer.review.prompts import ConfigProblem
from reviewer.review.verdict import Verdicts


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
    verdicts: Verdicts | None = None  # None: no verdict (a dry run without GitLab's threads)
    refusals: tuple[tuple[str, str], ...] = ()  # overrides asked for and not applied: (who, why)
    web_url: str = ""  # the MR's page, as GitLab gave it: links to its notes start here
    note_ids: Mapping[str, int] = field(default_factory=dict)  # fingerprint -> note of its thread
    files: tuple[FileDiff, ...] = ()  # every file of the MR, for the per-file table
    already: tuple[Finding, ...] = ()  # findings of this review already in earlier threads
    problems: tuple[ConfigProblem, ...] = ()  # settings not applied
    approval: str = ""  # what happened to the bot's approval ("approved", "refused", ...)
    approval_refused: str = ""  # GitLab's answer when the bot may not approve
    rebased: bool = False  # the head moved without changing the MR's own changes
