"""The ``reviewer`` commands about prompts and what people made of them: ``prompts show|check``,
``eval``, ``stats`` and ``feedback export`` (their parsers and what they run)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reviewer.app.config import Settings


def add_prompt_commands(sub: Any) -> None:
    """Add the commands to ``reviewer``'s subparsers."""
    prompts = sub.add_parser("prompts", help="show or check the prompts a team's reviews use")
    prompts.add_argument("action", choices=["show", "check"])
    prompts.add_argument("--team", help="the owner team, e.g. payments or group:default/payments")
    prompts.add_argument("--aspect", default="security+style", help="security, style, or security+style")
    prompts.add_argument(
        "--repo-config",
        metavar="PATH",
        help="a .ai-review.yaml to apply, or a repository: which rules apply where",
    )
    prompts.add_argument(
        "--project", type=int, metavar="ID", help="apply the rules remembered for this project (its id)"
    )
    prompts.set_defaults(run=_prompts)

    stats = sub.add_parser("stats", help="acceptance of the bot's findings: acted on or approved, dismissed")
    stats.add_argument("--team", help="one team, e.g. payments or group:default/payments")
    stats.add_argument("--since", metavar="DATE", help="findings posted on or after this date (2026-05-01)")
    stats.set_defaults(run=_stats)

    feedback = sub.add_parser("feedback", help="what reviewers did with findings, as `reviewer eval` cases")
    feedback.add_argument("action", choices=["export"])
    feedback.add_argument("folder", type=Path, help="where to write NAME.diff + NAME.expected.yaml")
    feedback.add_argument("--team", help="one team's findings only")
    feedback.add_argument("--since", metavar="DATE", help="findings posted on or after this date")
    feedback.set_defaults(run=_feedback)

    evaluate = sub.add_parser("eval", help="measure the prompts on recorded changes with expected findings")
    evaluate.add_argument("cases", type=Path, help="a folder of NAME.diff + NAME.expected.yaml cases")
    evaluate.add_argument("--team", help="review as this team (its prompt overrides and thresholds)")
    evaluate.add_argument(
        "--compare-prompts", type=Path, metavar="DIR", help="also score this prompts folder"
    )
    evaluate.add_argument("--tolerance", type=int, default=3, help="lines a finding may be off by")
    evaluate.add_argument("--min-precision", type=float, default=0.0, help="exit 1 below this precision")
    evaluate.add_argument("--min-recall", type=float, default=0.0, help="exit 1 below this recall")
    evaluate.set_defaults(run=_eval)


# -- prompts and eval ---------------------------------------------------------------------------


def _prompts(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.feedback_report import remembered_rules
    from reviewer.app.tuning import show_prompts

    rules = remembered_rules(settings, args.project) if args.project is not None else ()
    return show_prompts(settings, args.action, args.team, args.aspect, args.repo_config, rules=tuple(rules))


# -- stats and feedback ----------------------------------------------------------------------


def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.feedback_report import judged, stats_table

    print(stats_table(judged(settings, team=args.team, since=args.since)))
    return 0


def _feedback(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.feedback_report import export_cases, judged

    written = export_cases(judged(settings, team=args.team, since=args.since), args.folder)
    accepted, dismissed = written["accepted"], written["dismissed"]
    print(f"{accepted} accepted, {dismissed} dismissed findings as eval cases in {args.folder}")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.tuning import evaluate_prompts

    return evaluate_prompts(settings, args)
