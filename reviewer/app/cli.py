"""The ``reviewer`` command: serve | worker | review | doctor | mcp | prompts | eval | stats | feedback.

The queue (Celery) is given to ``main`` by the console script (workers.main), so that nothing
under reviewer/ imports workers: ``serve`` and ``worker`` use it through QueueRuntime.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from reviewer.app import redaction
from reviewer.app.cli_prompts import add_prompt_commands
from reviewer.app.config import Settings, load_intake_settings, load_settings
from reviewer.errors import ReviewerError

log = logging.getLogger("reviewer")

FORMATS = ("text", "json", "codequality", "sarif")


class RunningQueue(Protocol):
    app: Any  # the ASGI webhook intake
    embedded: bool  # Redis and a worker run inside this process

    def close(self) -> None: ...


class QueueRuntime(Protocol):
    def start(self, settings: Settings, *, problem: str | None = None) -> RunningQueue:
        """The intake on the queue (+ embedded Redis and worker); the worker reports ``problem``."""
        ...

    def run_worker(
        self, settings: Settings, *, concurrency: int, pool: str, name: str, beat: bool
    ) -> int: ...

    def worker_alive(self, settings: Settings, *, name: str, timeout: float) -> bool: ...


def main(argv: Sequence[str] | None = None, *, runtime: Callable[[], QueueRuntime] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.runtime = runtime
    try:
        # The intake (and a worker's health check) must run while a setting only reviews use is
        # invalid: the worker reports it on every review, `reviewer doctor` names it.
        if getattr(args, "tolerant", False) or getattr(args, "check", False):
            settings, args.problem = load_intake_settings()
        else:
            settings, args.problem = load_settings(), None
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
    serve.set_defaults(run=_serve, tolerant=True)

    worker = sub.add_parser("worker", help="a Celery worker (same as `celery -A workers worker`)")
    worker.add_argument("--concurrency", type=int, default=4)
    worker.add_argument("--pool", default="threads", choices=["threads", "prefork", "solo"])
    worker.add_argument("--name", default="reviewer@%h", help="the node name (%%h: this host's name)")
    worker.add_argument("--beat", action="store_true", help="also schedule the catch-up sweep (one worker)")
    worker.add_argument(
        "--check", action="store_true", help="exit 0 when the worker NAME on this host answers a ping"
    )
    worker.add_argument("--timeout", type=float, default=5.0, help="how long --check waits for the answer")
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
    doctor.add_argument(
        "--repo-config",
        metavar="FILE",
        help="also check a repository's .ai-review.yaml (unknown keys, bad values)",
    )
    doctor.set_defaults(run=_doctor)

    mcp = sub.add_parser("mcp", help="an MCP server for coding agents: review a change before pushing it")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="HTTP: beyond loopback needs REVIEWER_MCP_TOKEN")
    mcp.add_argument("--port", type=int, default=8765)
    mcp.set_defaults(run=_mcp)

    add_prompt_commands(sub)  # prompts, stats, feedback, eval: reviewer.app.cli_prompts
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
    from reviewer.app.local_git import LocalRepository
    from reviewer.app.services import build_catalog, build_engine, build_gitlab
    from reviewer.review.local import review_local_diff

    if args.diff or args.git:
        if args.project:
            raise ReviewerError("give either PROJECT MR_IID, or --diff/--git, not both")
        text = _read_diff(args.diff, args.git)
        head_files = LocalRepository.open(".").head_reader(args.git) if args.git else None
        report, worst = review_local_diff(
            build_engine(settings), text, fmt=args.format, head_files=head_files
        )
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


def _runtime(args: argparse.Namespace) -> QueueRuntime:
    if args.runtime is None:
        raise ReviewerError("this entry point has no queue: run the `reviewer` command (workers.main)")
    runtime: QueueRuntime = args.runtime()
    return runtime


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    host = args.host or settings.host
    port = args.port or settings.port
    settings = settings.model_copy(update={"host": host, "port": port})  # the pages check the bind
    # uvicorn stops gracefully on SIGTERM, then raises the signal again: exit through `finally`,
    # so that the embedded Redis and worker are stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    running = _runtime(args).start(settings, problem=args.problem)
    try:
        print(_welcome(settings, running.embedded, host, port), flush=True)
        if args.problem:
            print(f"reviewer: reviews will fail until this is fixed: {args.problem}", flush=True)
        elif not args.no_demo and not settings.gitlab_configured:
            # First contact: with no GitLab to serve yet, show the engine at work on a local change.
            threading.Thread(target=_demo_review, args=(settings,), daemon=True).start()
        uvicorn.run(running.app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        running.close()
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    runtime = _runtime(args)
    if args.check:
        alive = runtime.worker_alive(settings, name=args.name, timeout=args.timeout)
        print(f"worker {args.name}: {'answers' if alive else 'does not answer'}")
        return 0 if alive else 1
    return runtime.run_worker(
        settings, concurrency=args.concurrency, pool=args.pool, name=args.name, beat=args.beat
    )


def _welcome(settings: Settings, embedded: bool, host: str, port: int) -> str:
    from reviewer.app.access import pages_enabled

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
        state(
            pages_enabled(host, settings.ui_token.get_secret_value() if settings.ui_token else None),
            f"Pages: http://{host}:{port}/ui/"
            + (" (open once with ?token=REVIEWER_UI_TOKEN)" if settings.ui_token else " (this machine only)"),
            "Pages: off beyond loopback (set REVIEWER_UI_TOKEN to open /ui/ to token holders)",
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


def _demo_review(settings: Settings) -> None:
    """First contact: review the last commit of the repository at hand, so a newcomer sees work."""
    from reviewer.app.services import build_engine
    from reviewer.review.local import review_local_diff

    try:
        text = _git_diff("HEAD~1..HEAD")
    except ReviewerError as exc:
        print(f"reviewer: no local change to review ({exc})", flush=True)
        return
    try:
        report, _ = review_local_diff(build_engine(settings), text, fmt="text", title="last commit")
    except ReviewerError as exc:
        print(f"reviewer: the first-run review failed: {exc}", flush=True)
        return
    print(f"reviewer: review of the last commit (git diff HEAD~1..HEAD):\n{report}", flush=True)


# -- mcp -------------------------------------------------------------------------------------


def _mcp(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.mcp import run

    return run(settings, args.transport, args.host, args.port)


# -- doctor ----------------------------------------------------------------------------------


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from reviewer.app.doctor import run_checks

    results = run_checks(settings, repo_config=Path(args.repo_config) if args.repo_config else None)
    for result in results:
        print(f"{result.label:4} {result.name}: {result.detail}")
    return 0 if all(r.ok or not r.required for r in results) else 1
