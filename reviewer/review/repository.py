"""What a repository says about its own review: its owner team (the service catalog, or its
``catalog-info.yaml``), its ``.ai-review.yaml``, and the instructions it already writes: GitLab
Duo's ``.gitlab/duo/mr-review-instructions.yaml`` and the review sections of its ``AGENTS.md``
files (``reviewer.review.instructions``).

Files are read through a callable (path -> text, or None when absent), at the revision the caller
chooses: the bot reads them at an MR's target branch, so that a change cannot rewrite the rules of
its own review; ``reviewer mcp`` reads them at the base of the local range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reviewer.catalog import ServiceCatalog, ServiceContext
from reviewer.errors import ConfigError
from reviewer.review.instructions import (
    AGENTS_FILE,
    RepositoryInstructions,
    describe_instructions,
    read_instructions,
    review_guidelines,
)
from reviewer.review.prompts import (
    PromptStore,
    TeamPolicy,
    describe_prompts,
    parse_overrides,
    with_instructions,
)

__all__ = [
    "AGENTS_FILE",
    "REPO_CONFIG_FILE",
    "RepositoryRules",
    "describe_repository",
    "repository_rules",
    "review_guidelines",
]

REPO_CONFIG_FILE = ".ai-review.yaml"


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
    paths: Sequence[str] = (),
) -> RepositoryRules:
    """The policy a review of this repository follows, as its owner team's (or ``team``'s), with
    the repository's named instructions for ``paths`` (the changed files; the root AGENTS.md
    applies to every file). An invalid file is noted and skipped, never fatal: a review with the
    team's rules beats none."""
    notes: list[str] = []
    service = (catalog or ServiceCatalog()).context(project_path, read)
    team = team or (service.owner if service else None)
    overrides = _repo_overrides(read, notes)
    policy = prompts.policy(team, overrides)
    notes += [f"not applied: {problem}" for problem in policy.problems]
    found = read_instructions(read, paths)
    notes.extend(found.notes)
    return RepositoryRules(with_instructions(policy, found.items), service, tuple(notes))


def describe_repository(
    prompts: PromptStore,
    read: Callable[[str], str | None],
    paths: Sequence[str],
    team: str | None = None,
    aspect: str = "security+style",
) -> str:
    """What a repository's own files make of a team's prompts (``reviewer prompts show
    --repo-config REPO``): the prompt with its ``.ai-review.yaml``, then which of its named
    instructions (Duo's file, AGENTS.md) reach the calls of which of ``paths``."""
    rules = repository_rules(prompts, read, team=team, paths=paths)
    named = RepositoryInstructions(rules.policy.named, rules.notes)
    return "\n".join(
        [describe_prompts(prompts, rules.policy, aspect), "", describe_instructions(named, paths)]
    )


def _repo_overrides(read: Callable[[str], str | None], notes: list[str]) -> Mapping[str, Any]:
    text = read(REPO_CONFIG_FILE)
    if not text:
        return {}
    try:
        return parse_overrides(text, source=REPO_CONFIG_FILE)
    except ConfigError as exc:
        notes.append(f"{REPO_CONFIG_FILE} not applied: {exc}")
        return {}
