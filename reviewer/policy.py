"""The policy one review of a merge request follows: the owner team's file (the service catalog
names the team), refined by the repository's ``.ai-review.yaml`` and the rules remembered for the
repository (``/ai-review remember``). Files are read at the target branch: an MR cannot rewrite the
rules of its own review. A setting that cannot apply is named in the summary
(``policy.problems``), never fatal.

Rule: a domain module like ``reviewer.pipeline``: no web framework, queue, Redis or metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from reviewer.catalog import ServiceCatalog, ServiceContext
from reviewer.diff.parsing import DiffRefs
from reviewer.errors import ConfigError
from reviewer.gitlab.client import GitLabClient, MergeRequestInfo
from reviewer.review.engine import Engine
from reviewer.review.memory import Ledger
from reviewer.review.prompts import ConfigProblem, TeamPolicy, parse_overrides
from reviewer.review.repository import REPO_CONFIG_FILE

log = logging.getLogger(__name__)


def team_policy(
    engine: Engine,
    gitlab: GitLabClient,
    info: MergeRequestInfo,
    refs: DiffRefs,
    *,
    catalog: ServiceCatalog | None = None,
    ledger: Ledger | None = None,
) -> tuple[TeamPolicy, ServiceContext | None]:
    """The policy a review of this MR follows, and what the catalog knows of its service."""
    service = _service(catalog, gitlab, info, refs)
    text = gitlab.read_file(info.project_id, REPO_CONFIG_FILE, refs.start_sha)
    overrides: Mapping[str, Any] = {}
    problem = None
    if text:
        try:
            overrides = parse_overrides(text, source=REPO_CONFIG_FILE)
        except ConfigError as exc:
            log.warning("ignoring %s of %s: %s", REPO_CONFIG_FILE, info.project_path, exc)
            reason = "not valid YAML" if "YAML" in str(exc) else "not a mapping of settings"
            problem = ConfigProblem(REPO_CONFIG_FILE, "(file)", f"{reason}; the team's settings apply")
    policy = engine.prompts.policy(service.owner if service else None, overrides)
    if problem is not None:
        policy = replace(policy, problems=(*policy.problems, problem))
    for each in policy.problems:
        log.info("%s of %s not applied: %s", each.source, info.project_path, each)
    if ledger is not None:
        policy = replace(policy, rules=ledger.rules(info.project_id))
    return policy, service


def _service(
    catalog: ServiceCatalog | None, gitlab: GitLabClient, info: MergeRequestInfo, refs: DiffRefs
) -> ServiceContext | None:
    """What the catalog knows of the repository; its catalog-info.yaml is read from the target
    branch, like every setting an MR must not be able to change about its own review."""
    if catalog is None:
        return None
    return catalog.context(
        info.project_path, lambda path: gitlab.read_file(info.project_id, path, refs.start_sha)
    )
