"""``reviewer prompts`` and ``reviewer eval``: what a team's reviews ask the model, and what a
prompt change does to precision and recall before it ships."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from reviewer.app.config import Settings
from reviewer.app.local_git import LocalRepository
from reviewer.app.services import build_engine, thresholds
from reviewer.review.evaluation import evaluate, load_cases, render_evaluation
from reviewer.review.prompts import PromptStore, describe_prompts, parse_overrides
from reviewer.review.repository import describe_repository


def show_prompts(
    settings: Settings,
    action: str,
    team: str | None,
    aspect: str,
    repo_config: str | None,
    *,
    rules: tuple[str, ...] = (),
) -> int:
    """``check``: render every team's prompts; ``show``: one team's prompt, with a repository's
    ``.ai-review.yaml``, or with a local repository's own files at HEAD (and which of its named
    instructions reach which files)."""
    store = PromptStore(settings.prompts_dir, defaults=thresholds(settings))
    if action == "check":
        teams = sorted(p.stem for p in (settings.prompts_dir / "teams").glob("*.yaml"))
        problems = 0
        for name in [None, *teams]:
            policy = store.policy(name)
            for each in ("security", "style", "security+style"):
                store.render(each, policy, diff="", title="check")
            version = store.version("security+style", policy)
            print(f"ok   {name or '(default)'}: aspects {', '.join(policy.aspects)}, version {version}")
            for problem in policy.problems:  # the rest of the file applies; this key does not
                print(f"WARN {name}: not applied: {problem}")
            problems += len(policy.problems)
        return 1 if problems else 0
    if repo_config and Path(repo_config).is_dir():
        local = LocalRepository.open(repo_config)
        paths = local.files("HEAD")
        print(describe_repository(store, local.reader("HEAD", only=paths), paths, team, aspect))
        return 0
    overrides = None
    if repo_config:
        overrides = parse_overrides(Path(repo_config).read_text(encoding="utf-8"), source=repo_config)
    policy = store.policy(team, overrides)
    if rules:  # what a project's maintainers asked the bot to remember
        policy = replace(policy, rules=rules)
    print(describe_prompts(store, policy, aspect))
    return 0


def evaluate_prompts(settings: Settings, args: argparse.Namespace) -> int:
    """Score the cases with the configured prompts (and ``--compare-prompts``); 1 below the
    minimum precision or recall."""
    if not settings.llm_configured:
        print("reviewer: no gateway configured: only the deterministic checks are measured", file=sys.stderr)
    cases = load_cases(args.cases)
    runs = [("", settings)]
    if args.compare_prompts:
        runs.append(
            (str(args.compare_prompts), settings.model_copy(update={"prompts_dir": args.compare_prompts}))
        )
    failed = False
    for label, run_settings in runs:
        engine = build_engine(run_settings)
        result = evaluate(engine, cases, engine.prompts.policy(args.team), tolerance=args.tolerance)
        print(render_evaluation(result, label or str(run_settings.prompts_dir)))
        failed |= result.total.precision < args.min_precision or result.total.recall < args.min_recall
    return 1 if failed else 0
