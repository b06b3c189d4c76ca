"""The ``reviewer`` command: serve | worker | review | doctor | mcp | prompts | eval | stats | feedback."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reviewer.app import redaction
from reviewer.app.config import Settings, load_settings
from reviewer.errors import ReviewerError

log = logging.getLogger("reviewer")

FORMATS = ("text", "json", "codequality", "sarif")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        redaction.install(settings.secret_values())
        _logging(settings.log_level)
        return int(args.run(args, settings) or 0)
    except ReviewerError as exc:
        print(f"reviewer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reviewer", description="AI code review for GitLab merge requests.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve", help="webhook intake (+ embedded Redis and worker without REVIEWER_REDIS_URL)"
    )
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--no-demo", action="store_true", help="skip the first-run review of the local repository"
    )
    serve.set_defaults(run=_serve)

    worker = sub.add_parser("worker", help="a Celery worker (same as `celery -A workers worker`)")
    worker.add_argument("--concurrency", type=int, default=4)
    worker.add_argument("--pool", default="threads", choices=["threads", "prefork", "solo"])
    worker.set_defaults(run=_worker)

    review = sub.add_parser("review", help="review one MR now, or a local diff")
    review.add_argument("project", nargs="?", help="project id or path, e.g. group/app")
    review.add_argument("iid", nargs="?", type=int, help="merge request iid")
    review.add_argument("--dry-run", action="store_true", help="print instead of posting")
    review.add_argument("--diff", metavar="FILE", help="review a unified diff file ('-' for stdin)")
    review.add_argument(
        "--git", metavar="REV_RANGE", help="review `git diff REV_RANGE` of the current repository"
    )
    review.add_argument("--format", choices=FORMATS, default="text")
    review.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    review.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        choices=["critical", "high", "medium", "low", "info"],
        help="exit 1 when a finding is at least this severe (for CI jobs)",
    )
    review.set_defaults(run=_review)

    doctor = sub.add_parser("doctor", help="check every setting and connection, say what is wrong")
    doctor.set_defaults(run=_doctor)

    mcp = sub.add_parser("mcp", help="an MCP server for coding agents: review a change before pushing it")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="HTTP: beyond loopback needs REVIEWER_MCP_TOKEN")
    mcp.add_argument("--port", type=int, default=8765)
    mcp.set_defaults(run=_mcp)

    prompts = sub.add_parser("prompts", help="show or check the prompts a team's reviews use")
    prompts.add_argument("action", choices=["show", "check"])
    prompts.add_argument("--team", help="the owner team, e.g. payments or group:default/payments")
    prompts.add_argument("--aspect", default="security+style", help="security, style, or security+style")
    prompts.add_argument("--repo-config", metavar="FILE", help="a repository's .ai-review.yaml to apply too")
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
    return parser


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore", "urllib3", "openai._base_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- review ----------------------------------------------------------------------------------


def _review(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.services import build_catalog, build_engine, build_gitlab
    from reviewer.review.local import review_local_diff

    if args.diff or args.git:
        if args.project:
            raise ReviewerError("give either PROJECT MR_IID, or --diff/--git, not both")
        text = _read_diff(args.diff, args.git)
        report, worst = review_local_diff(build_engine(settings), text, fmt=args.format)
        _emit(report, args.output)
        return 1 if args.fail_on and worst is not None and worst.rank >= _rank(args.fail_on) else 0
    if not args.project or args.iid is None:
        raise ReviewerError(
            "usage: reviewer review PROJECT MR_IID [--dry-run], or --diff FILE, or --git RANGE"
        )
    gitlab = build_gitlab(settings)
    if gitlab is None:
        raise ReviewerError("set REVIEWER_GITLAB_URL and REVIEWER_GITLAB_TOKEN to review a merge request")
    from reviewer.pipeline import ReviewRequest, review_merge_request

    project: int | str = int(args.project) if args.project.isdigit() else args.project
    outcome = review_merge_request(
        build_engine(settings),
        gitlab,
        ReviewRequest(project, args.iid, "manual", dry_run=args.dry_run),
        catalog=build_catalog(settings),
    )
    if outcome.summary and args.dry_run:
        _emit(outcome.summary, args.output)
    print(
        f"{outcome.status}{': ' + outcome.reason if outcome.reason else ''} "
        f"(inline {outcome.inline}, summary {outcome.in_summary}, already posted {outcome.already_posted})",
        file=sys.stderr,
    )
    return 0


def _rank(severity: str) -> int:
    from reviewer.review.findings import Severity

    return Severity(severity).rank


def _read_diff(path: str | None, rev_range: str | None) -> str:
    # Bytes, not text mode: universal newlines would split a line at a lone "\r" inside it.
    if path == "-":
        return sys.stdin.buffer.read().decode("utf-8", errors="replace")
    if path:
        try:
            return Path(path).read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise ReviewerError(f"cannot read {path}: {exc.strerror}") from None
    assert rev_range is not None
    return _git_diff(rev_range)


def _git_diff(rev_range: str) -> str:
    from reviewer.app.local_git import git_diff

    return git_diff(rev_range)


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
    else:
        print(text)


# -- serve and worker ------------------------------------------------------------------------


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from workers.runtime import start_runtime

    host = args.host or settings.host
    port = args.port or settings.port
    runtime = start_runtime(settings)
    try:
        print(_welcome(settings, runtime.embedded, host, port), flush=True)
        if not args.no_demo and not settings.gitlab_configured:
            # First contact: with no GitLab to serve yet, show the engine at work on a local change.
            threading.Thread(target=_demo_review, args=(runtime.engine,), daemon=True).start()
        uvicorn.run(runtime.app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        runtime.close()
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from workers import app

    if not settings.redis_url:
        raise ReviewerError(
            "`reviewer worker` needs REVIEWER_REDIS_URL: the broker `reviewer serve` enqueues to"
        )
    app.worker_main(["worker", f"--concurrency={args.concurrency}", f"--pool={args.pool}", "--loglevel=INFO"])
    return 0


def _welcome(settings: Settings, embedded: bool, host: str, port: int) -> str:
    def state(ok: bool, yes: str, no: str) -> str:
        return f"  [{'x' if ok else ' '}] {yes if ok else no}"

    lines = [
        f"reviewer: webhook intake on http://{host}:{port}/webhooks/gitlab (health: http://{host}:{port}/healthz)",
        state(
            not embedded,
            f"Redis: {settings.redis_url and _redact(settings.redis_url)}",
            "Redis: embedded (set REVIEWER_REDIS_URL to share the queue with `reviewer worker` hosts)",
        ),
        state(
            settings.gitlab_configured,
            f"GitLab: {settings.gitlab_url}",
            "GitLab: not connected (set REVIEWER_GITLAB_URL and REVIEWER_GITLAB_TOKEN)",
        ),
        state(
            bool(settings.webhook_secrets),
            "Webhook secret: set",
            "Webhook secret: not set, every delivery is refused (set REVIEWER_WEBHOOK_SECRET)",
        ),
        state(
            settings.llm_configured,
            f"Model gateway: {settings.llm_base_url} ({settings.llm_model})",
            "Model gateway: not set, deterministic checks only "
            "(set REVIEWER_LLM_BASE_URL, REVIEWER_LLM_API_KEY, REVIEWER_LLM_MODEL)",
        ),
        "  `reviewer doctor` checks each setting and connection; "
        "`reviewer review --git HEAD~1..HEAD` reviews a local change.",
    ]
    return "\n".join(lines)


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _demo_review(engine: Any) -> None:
    """First contact: review the last commit of the repository at hand, so a newcomer sees work."""
    from reviewer.review.local import review_local_diff

    try:
        text = _git_diff("HEAD~1..HEAD")
    except ReviewerError as exc:
        print(f"reviewer: no local change to review ({exc})", flush=True)
        return
    try:
        report, _ = review_local_diff(engine, text, fmt="text", title="last commit")
    except ReviewerError as exc:
        print(f"reviewer: the first-run review failed: {exc}", flush=True)
        return
    print(f"reviewer: review of the last commit (git diff HEAD~1..HEAD):\n{report}", flush=True)


# -- prompts and eval ------------------------------------------------------------------------


def _prompts(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.services import thresholds
    from reviewer.review.prompts import PromptStore, describe_prompts, parse_overrides

    store = PromptStore(settings.prompts_dir, defaults=thresholds(settings))
    if args.action == "check":
        teams = sorted(p.stem for p in (settings.prompts_dir / "teams").glob("*.yaml"))
        for team in [None, *teams]:
            policy = store.policy(team)
            for aspect in ("security", "style", "security+style"):
                store.render(aspect, policy, diff="", title="check")
            version = store.version("security+style", policy)
            print(f"ok   {team or '(default)'}: aspects {', '.join(policy.aspects)}, version {version}")
        return 0
    overrides = None
    if args.repo_config:
        overrides = parse_overrides(
            Path(args.repo_config).read_text(encoding="utf-8"), source=args.repo_config
        )
    policy = store.policy(args.team, overrides)
    if args.project is not None:
        policy = _with_remembered_rules(policy, args.project, settings)
    print(describe_prompts(store, policy, args.aspect))
    return 0


# -- stats and feedback ----------------------------------------------------------------------


def _with_remembered_rules(policy: Any, project_id: int, settings: Settings) -> Any:
    from dataclasses import replace

    from reviewer.app.feedback_report import remembered_rules

    return replace(policy, rules=remembered_rules(settings, project_id))


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
    from reviewer.app.services import build_engine
    from reviewer.review.evaluation import evaluate, load_cases, render_evaluation

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


# -- mcp -------------------------------------------------------------------------------------


def _mcp(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.mcp import run

    return run(settings, args.transport, args.host, args.port)


# -- doctor ----------------------------------------------------------------------------------


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.doctor import run_checks

    results = run_checks(settings)
    for result in results:
        print(f"{result.label:4} {result.name}: {result.detail}")
    return 0 if all(r.ok or not r.required for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
