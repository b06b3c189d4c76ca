"""One review of a merge request: its latest diff (or, after a push, what the push changed),
the engine's findings, then threads on their lines and the one summary note."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reviewer.app import metrics
from reviewer.app.state import ReviewLedger
from reviewer.catalog import ServiceCatalog, ServiceContext
from reviewer.diff.parsing import DiffParseError, FileDiff, MergeRequestDiff
from reviewer.diff.positions import Inline, InSummary
from reviewer.errors import ConfigError, GitLabError
from reviewer.gitlab.client import BotThread, GitLabClient, MergeRequestInfo
from reviewer.gitlab.increment import changed_since
from reviewer.gitlab.publish import publish_inline, resolve_addressed
from reviewer.gitlab.summary import SummaryInput, render_summary
from reviewer.model.usage import Usage
from reviewer.review.detectors.secrets import scan as scan_secrets
from reviewer.review.engine import Analysis, Engine
from reviewer.review.findings import Finding, Side, code_hash
from reviewer.review.prompts import TeamPolicy, parse_overrides
from reviewer.review.report import render_report

log = logging.getLogger(__name__)

REPO_CONFIG_FILE = ".ai-review.yaml"


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    project: int | str
    iid: int
    trigger: str = "manual"  # the webhook's ("opened", "pushed", "command"...), "sweep" or "manual"
    dry_run: bool = False
    head_sha: str | None = None  # the head the event saw; the review takes the MR's latest
    requested_by: int | None = None  # the author of a /ai-review note
    job_id: str = ""  # the queued job's id: its retries are not a second request of a command


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    status: str  # "reviewed", "skipped", "superseded", "dry-run"
    reason: str = ""
    head_sha: str | None = None
    tier: str | None = None
    inline: int = 0
    in_summary: int = 0
    already_posted: int = 0
    usage: Usage = field(default_factory=Usage)
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "head_sha": self.head_sha,
            "tier": self.tier,
            "inline": self.inline,
            "in_summary": self.in_summary,
            "already_posted": self.already_posted,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost": self.usage.cost,
        }


def review_merge_request(
    engine: Engine,
    gitlab: GitLabClient,
    request: ReviewRequest,
    *,
    ledger: ReviewLedger | None = None,
    catalog: ServiceCatalog | None = None,
) -> ReviewOutcome:
    info, diff = gitlab.fetch_diff(request.project, request.iid)
    head = diff.refs.head_sha
    if info.state in ("closed", "merged", "locked"):
        return ReviewOutcome("skipped", f"merge request is {info.state}", head)
    previous = ledger.last_reviewed(info.project_id, info.iid) if ledger is not None else None
    if previous == head and request.trigger != "command":
        return ReviewOutcome("skipped", f"head {head[:12]} was already reviewed", head)
    if (
        ledger is not None
        and request.trigger == "command"
        and not ledger.allow_command(info.project_id, info.iid, head, claimant=request.job_id)
    ):
        return ReviewOutcome("skipped", f"a review of {head[:12]} was requested moments ago", head)
    incremental = request.trigger in ("pushed", "sweep")  # a sweep finds pushes whose hook was lost
    files, since = _what_to_review(gitlab, info, diff, previous if incremental else None)
    service = _service(catalog, gitlab, info, diff)
    policy = engine.prompts.policy(service.owner if service else None, _repo_overrides(gitlab, info, diff))
    metadata: dict[str, str | int | float | bool] = {
        "project": info.project_path[-64:],
        "mr": info.iid,
        "trigger": request.trigger,
    }
    with metrics.REVIEW_SECONDS.time():
        analysis = engine.analyse(
            files,
            diff.refs,
            title=info.title,
            policy=policy,
            metadata=metadata,
            anchor_files=diff.files,
            service=service.describe() if service else "",
        )
    _count(analysis, policy)
    carried = _carried_over(ledger, info, diff, analysis) if since else []
    if request.dry_run:
        inline = [f for f, p in analysis.placed if isinstance(p, Inline)]
        listed = [(f, p.reason) for f, p in analysis.placed if isinstance(p, InSummary)] + carried
        summary = _summary(analysis, diff, listed, inline, 0, since)
        comments = render_report(inline, "text", tier=analysis.plan.tier, usage=analysis.usage)
        shown = f"Inline comments it would post:\n{comments}\n\nThe summary note it would post:\n{summary}"
        return ReviewOutcome(
            "dry-run", "", head, analysis.plan.tier.value, len(inline), len(listed), 0, analysis.usage, shown
        )
    latest = gitlab.merge_request(info.project_id, info.iid).head_sha
    if latest and latest != head:
        metrics.REVIEWS.labels(outcome="superseded", tier=analysis.plan.tier.value).inc()
        return ReviewOutcome("superseded", f"head moved to {latest[:12]} during the review", head)
    threads = gitlab.bot_threads(info.project_id, info.iid)
    existing = {t.fingerprint for t in threads}
    outcome = publish_inline(gitlab, info.project_id, info.iid, analysis.placed, existing)
    addressed = resolve_addressed(
        gitlab, info.project_id, info.iid, threads, _still_present(diff.files, threads)
    )
    listed = outcome.in_summary + carried
    summary = _summary(
        analysis, diff, listed, outcome.inline, len(outcome.already_posted), since, resolved=len(addressed)
    )
    gitlab.upsert_summary(info.project_id, info.iid, summary)
    if ledger is not None:
        ledger.record(info.project_id, info.iid, head, listed)
    for finding in outcome.inline:
        metrics.FINDINGS.labels(aspect=finding.aspect, placement="inline").inc()
    for finding, _ in outcome.in_summary:
        metrics.FINDINGS.labels(aspect=finding.aspect, placement="summary").inc()
    metrics.REVIEWS.labels(outcome="reviewed", tier=analysis.plan.tier.value).inc()
    log.info(
        "reviewed %s!%s at %s%s: tier %s, %d inline, %d in summary, %d already posted, %d tokens, $%.4f",
        info.project_path,
        info.iid,
        head[:12],
        f" (changes since {since[:12]})" if since else "",
        analysis.plan.tier.value,
        len(outcome.inline),
        len(outcome.in_summary),
        len(outcome.already_posted),
        analysis.usage.prompt_tokens,
        analysis.usage.cost,
    )
    return ReviewOutcome(
        "reviewed",
        "",
        head,
        analysis.plan.tier.value,
        len(outcome.inline),
        len(listed),
        len(outcome.already_posted),
        analysis.usage,
        summary,
    )


def _what_to_review(
    gitlab: GitLabClient, info: MergeRequestInfo, diff: MergeRequestDiff, previous: str | None
) -> tuple[Sequence[FileDiff], str | None]:
    """After a push, the hunks the push changed (and the head they are compared with); else, or
    when the previous head cannot be compared any more (force-pushed away), the whole MR."""
    if previous is None or previous == diff.refs.head_sha:
        return diff.files, None
    try:
        interdiff = gitlab.compare(info.project_id, previous, diff.refs.head_sha)
    except (GitLabError, DiffParseError) as exc:
        log.info(
            "reviewing all of %s!%s: cannot compare with %s: %s",
            info.project_path,
            info.iid,
            previous[:12],
            exc,
        )
        return diff.files, None
    return changed_since(diff.files, interdiff), previous


def _still_present(
    files: Sequence[FileDiff], threads: Sequence[BotThread]
) -> Callable[[str, Side, str], bool]:
    """Whether a line with a given code hash is still in the diff, on a side of a file. A file
    whose text is withheld counts as unchanged: nothing is resolved on a guess."""
    masker = scan_secrets(files).masker  # threads hashed their lines masked
    wanted = {t.path for t in threads if not t.resolved}
    by_path = {f.path: f for f in files if f.path in wanted} | {
        f.old_path: f for f in files if f.old_path in wanted
    }
    hashes: dict[tuple[str, Side], set[str]] = {}
    unknown: set[str] = set()
    for path, file in by_path.items():
        if not file.hunks:
            unknown.add(path)
        for hunk in file.hunks:
            for line in hunk.lines:
                for side, number in ((Side.NEW, line.new_no), (Side.OLD, line.old_no)):
                    if number is not None:
                        hashes.setdefault((path, side), set()).add(code_hash(masker(line.text)))
    return lambda path, side, anchor: path in unknown or anchor in hashes.get((path, side), set())


def _carried_over(
    ledger: ReviewLedger | None, info: MergeRequestInfo, diff: MergeRequestDiff, analysis: Analysis
) -> list[tuple[Finding, str]]:
    """What the previous summary listed for files this follow-up did not review again."""
    if ledger is None:
        return []
    reviewed = {path for chunk in analysis.plan.chunks for path in chunk.paths}
    in_mr = {f.path for f in diff.files}
    return [(f, r) for f, r in ledger.in_summary(info.project_id, info.iid) if f.path in in_mr - reviewed]


def _service(
    catalog: ServiceCatalog | None, gitlab: GitLabClient, info: MergeRequestInfo, diff: MergeRequestDiff
) -> ServiceContext | None:
    """What the catalog knows of the repository; its catalog-info.yaml is read from the target
    branch, like every setting an MR must not be able to change about its own review."""
    if catalog is None:
        return None
    return catalog.context(
        info.project_path, lambda path: gitlab.read_file(info.project_id, path, diff.refs.start_sha)
    )


def _repo_overrides(
    gitlab: GitLabClient, info: MergeRequestInfo, diff: MergeRequestDiff
) -> Mapping[str, Any]:
    """The repository's ``.ai-review.yaml`` as the target branch has it: an MR cannot rewrite the
    rules of its own review. An invalid file is reported, not fatal."""
    text = gitlab.read_file(info.project_id, REPO_CONFIG_FILE, diff.refs.start_sha)
    if not text:
        return {}
    try:
        return parse_overrides(text, source=REPO_CONFIG_FILE)
    except ConfigError as exc:
        log.warning("ignoring %s of %s: %s", REPO_CONFIG_FILE, info.project_path, exc)
        return {}


def _summary(
    analysis: Analysis,
    diff: MergeRequestDiff,
    in_summary: Sequence[tuple[Finding, str]],
    inline: Sequence[Finding],
    already_posted: int,
    since: str | None,
    *,
    resolved: int = 0,
) -> str:
    return render_summary(
        SummaryInput(
            head_sha=diff.refs.head_sha,
            plan=analysis.plan,
            inline=list(inline),
            in_summary=list(in_summary),
            already_posted=already_posted,
            over_cap=analysis.over_cap,
            failures=analysis.failures,
            usage=analysis.usage,
            prompt_versions=analysis.prompt_versions,
            aspects=analysis.aspects,
            model_configured=analysis.model_calls > 0 or bool(analysis.aspects),
            since=since,
            resolved=resolved,
        )
    )


def _count(analysis: Analysis, policy: TeamPolicy) -> None:
    team = policy.team or "unknown"
    metrics.TOKENS.labels(kind="prompt", team=team).inc(analysis.usage.prompt_tokens)
    metrics.TOKENS.labels(kind="cached", team=team).inc(analysis.usage.cached_tokens)
    metrics.TOKENS.labels(kind="completion", team=team).inc(analysis.usage.completion_tokens)
    metrics.COST.labels(team=team).inc(analysis.usage.cost)
