"""What a repository says about its own review: its owner team (the service catalog, or its
``catalog-info.yaml``), its ``.ai-review.yaml`` and the review section of its ``AGENTS.md``.

Files are read through a callable (path -> text, or None when absent), at the revision the caller
chooses: the bot reads them at an MR's target branch, so that a change cannot rewrite the rules of
its own review; ``reviewer mcp`` reads them at the base of the local range.

``AGENTS.md`` speaks to coding agents about everything (builds, tests, style); only its sections
whose heading names review ("## Review guidelines", the convention coding agents' own reviewers
follow) are review instructions. The rest would cost tokens on every model call and say nothing
about review, so it is left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reviewer.catalog import ServiceCatalog, ServiceContext
from reviewer.errors import ConfigError
from reviewer.review.prompts import PromptStore, TeamPolicy, apply_overrides, parse_overrides

REPO_CONFIG_FILE = ".ai-review.yaml"
AGENTS_FILE = "AGENTS.md"

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_REVIEW_WORD = re.compile(r"\breview", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RepositoryRules:
    policy: TeamPolicy  # the team's prompts and thresholds, refined by the repository's files
    service: ServiceContext | None  # what the catalog knows of the repository
    notes: tuple[str, ...] = ()  # files found but not applied, and why


def repository_rules(
    prompts: PromptStore,
    read: Callable[[str], str | None],
    *,
    catalog: ServiceCatalog | None = None,
    project_path: str = "",
    team: str | None = None,
) -> RepositoryRules:
    """The policy a review of this repository follows, as its owner team's (or ``team``'s). An
    invalid file is noted and skipped, never fatal: a review with the team's rules beats none."""
    notes: list[str] = []
    service = (catalog or ServiceCatalog()).context(project_path, read)
    team = team or (service.owner if service else None)
    overrides = _repo_overrides(read, notes)
    policy = prompts.policy(team, overrides)
    notes += [f"not applied: {problem}" for problem in policy.problems]
    agents = read(AGENTS_FILE)
    if agents:
        guidelines = review_guidelines(agents)
        if guidelines:
            policy = apply_overrides(policy, {"instructions": guidelines}, source=AGENTS_FILE)
        else:
            notes.append(f"{AGENTS_FILE} has no section whose heading names review: not applied")
    return RepositoryRules(policy, service, tuple(notes))


def _repo_overrides(read: Callable[[str], str | None], notes: list[str]) -> Mapping[str, Any]:
    text = read(REPO_CONFIG_FILE)
    if not text:
        return {}
    try:
        return parse_overrides(text, source=REPO_CONFIG_FILE)
    except ConfigError as exc:
        notes.append(f"{REPO_CONFIG_FILE} not applied: {exc}")
        return {}


def review_guidelines(markdown: str) -> str:
    """The text of every section whose heading names review (with its subsections), headings
    left out; empty when there is none. Headings inside fenced code blocks do not count."""
    taken: list[str] = []
    level_taken = 0  # the level of the heading being taken, 0 when outside such a section
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if level_taken and level <= level_taken:
                level_taken = 0
            if not level_taken and _REVIEW_WORD.search(heading.group(2)):
                level_taken = level
                continue
        if level_taken:
            taken.append(line)
    return "\n".join(taken).strip()
