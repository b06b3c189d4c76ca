"""One review: plan -> chunks -> model aspects in parallel -> findings -> placement -> publish.

``Engine.analyse`` is the part every entry point shares (webhook task, ``reviewer review`` of an MR,
local review of a diff); ``review_merge_request`` adds GitLab around it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from reviewer import metrics
from reviewer.detectors.secrets import scan as scan_secrets
from reviewer.diff import DiffRefs, FileDiff, MergeRequestDiff
from reviewer.errors import ConfigError, ModelOutputInvalid, TransientError
from reviewer.findings import Finding, select, with_fingerprint
from reviewer.gitlab import GitLabClient, MergeRequestInfo
from reviewer.llm import AnswerInvalid, GatewayRejected, LLMClient, Usage
from reviewer.planning import Chunk, Plan, PlanConfig, Tier, plan_review
from reviewer.positions import Inline, LineIndex, Placement
from reviewer.prompts import PromptStore, TeamPolicy, parse_overrides
from reviewer.publish import publish_inline
from reviewer.state import ReviewLedger
from reviewer.summary import SummaryInput, render_summary
from reviewer.tokens import TokenCounter

log = logging.getLogger(__name__)

REPO_CONFIG_FILE = ".ai-review.yaml"


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """Which model answers which aspect: per-aspect settings for full reviews, a cheaper one
    for trivial and lite reviews, and the fallbacks after either."""

    default: str
    lite: str | None = None
    per_aspect: Mapping[str, str] = field(default_factory=dict)
    fallbacks: tuple[str, ...] = ()

    def for_review(self, aspect: str, tier: Tier, policy: TeamPolicy) -> list[str]:
        """``aspect`` may join several (one call for all); per-aspect models apply to single ones."""
        if tier is Tier.FULL:
            first = policy.model or self.per_aspect.get(aspect) or self.default
        else:
            first = self.lite or policy.model or self.default
        return list(dict.fromkeys([first, *self.fallbacks]))


@dataclass(frozen=True, slots=True)
class Analysis:
    plan: Plan
    placed: list[tuple[Finding, Placement]]  # kept, most severe first
    over_cap: list[Finding]
    failures: list[str]  # what could not be reviewed, said plainly
    usage: Usage
    prompt_versions: dict[str, str]
    aspects: tuple[str, ...]
    model_calls: int
    seconds: float


@dataclass
class Engine:
    """The review engine: prompts, the model client and the planning policy, built once."""

    prompts: PromptStore
    llm: LLMClient | None
    models: ModelChoice
    plan_config: PlanConfig
    counter: TokenCounter
    concurrency: int = 8

    def analyse(
        self,
        files: Sequence[FileDiff],
        refs: DiffRefs,
        *,
        title: str,
        policy: TeamPolicy,
        metadata: Mapping[str, str | int | float | bool] | None = None,
    ) -> Analysis:
        started = time.monotonic()
        secrets = scan_secrets(files)
        config = self.plan_config
        if policy.ignore_paths:
            config = replace(config, noise_globs=(*config.noise_globs, *policy.ignore_paths))
        plan = plan_review(files, config, self.counter, masker=secrets.masker)
        aspects = policy.aspects if self.llm is not None else ()
        tasks = [
            (chunk, group)
            for chunk in plan.chunks
            for group in _call_groups(aspects, plan.is_sensitive(chunk))
        ]
        results = self._run_aspects(tasks, plan, policy, title, metadata or {})
        usage = Usage()
        failures: list[str] = []
        found: list[Finding] = list(secrets.findings)
        versions: dict[str, str] = {}
        for (chunk, aspect), outcome in zip(tasks, results, strict=True):
            versions[aspect] = self.prompts.version(aspect, policy)
            if isinstance(outcome, BaseException):
                failures.append(_failure_text(aspect, chunk, outcome))
                if isinstance(outcome, AnswerInvalid):
                    usage = usage + outcome.usage
                continue
            usage = usage + outcome.usage
            found.extend(outcome.findings)
            if outcome.rejected:
                log.info("%s answer had %d invalid findings", aspect, len(outcome.rejected))
        if tasks and all(isinstance(r, TransientError) for r in results):
            first = next(r for r in results if isinstance(r, TransientError))
            raise TransientError(f"every model call failed: {first}", retry_after=first.retry_after)
        index = LineIndex(files, refs)
        placed = [_place(index, f, secrets.masker) for f in found]
        placement_of = {id(f): p for f, p in placed}
        kept, over_cap = select([f for f, _ in placed], policy.thresholds)
        return Analysis(
            plan=plan,
            placed=[(f, placement_of[id(f)]) for f in kept],
            over_cap=over_cap,
            failures=failures,
            usage=usage,
            prompt_versions=versions,
            aspects=tuple(aspects),
            model_calls=len(tasks),
            seconds=time.monotonic() - started,
        )

    def _run_aspects(
        self,
        tasks: list[tuple[Chunk, str]],
        plan: Plan,
        policy: TeamPolicy,
        title: str,
        metadata: Mapping[str, str | int | float | bool],
    ) -> list[Any]:
        if not tasks or self.llm is None:
            return []
        llm = self.llm

        def run(task: tuple[Chunk, str]) -> Any:
            chunk, aspect = task
            prompt = self.prompts.render(aspect, policy, diff=chunk.text, title=title)
            models = self.models.for_review(aspect, plan.tier, policy)
            # AI Gateway keeps at most 5 entries: team, project, mr, trigger and the prompt version
            # (which also tells the aspect apart).
            meta = {**metadata, "prompt": prompt.version}
            if policy.team:
                meta["team"] = policy.team
            try:
                return llm.review(prompt.messages, models=models, aspect=aspect, metadata=meta)
            except (TransientError, ModelOutputInvalid, GatewayRejected) as exc:
                return exc

        workers = max(1, min(self.concurrency, len(tasks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aspect") as pool:
            return list(pool.map(run, tasks))


def _call_groups(aspects: Sequence[str], sensitive: bool) -> list[str]:
    """Which aspects share a model call. A chunk with security-sensitive files gives each aspect
    its own call (its own rules, model and attention, in parallel); any other chunk asks for all
    aspects in one call, so that its diff and the shared instructions are sent once."""
    if not aspects:
        return []
    if sensitive:
        return list(aspects)
    return ["+".join(aspects)]


def _place(index: LineIndex, finding: Finding, masker: Callable[[str], str]) -> tuple[Finding, Placement]:
    placement = index.place(finding.path, finding.line, finding.side, finding.end_line)
    anchored = [ln.text for ln in placement.lines] if isinstance(placement, Inline) else [str(finding.line)]
    # Masked: a fingerprint of a line holding a weak password could be reversed by guessing.
    return with_fingerprint(finding, [masker(text) for text in anchored]), placement


def _failure_text(aspect: str, chunk: Chunk, exc: BaseException) -> str:
    files = ", ".join(f"`{p}`" for p in chunk.paths[:5]) + (" and more" if len(chunk.paths) > 5 else "")
    if isinstance(exc, ModelOutputInvalid):
        return f"{aspect} review of {files}: the model's answer stayed invalid ({exc})"
    if isinstance(exc, GatewayRejected):
        return f"{aspect} review of {files}: the model gateway refused the request ({exc})"
    return f"{aspect} review of {files}: the model gateway failed ({exc})"


# -- merge requests --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    project: int | str
    iid: int
    trigger: str = "manual"
    dry_run: bool = False


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
) -> ReviewOutcome:
    info, diff = gitlab.fetch_diff(request.project, request.iid)
    head = diff.refs.head_sha
    if info.state in ("closed", "merged", "locked"):
        return ReviewOutcome("skipped", f"merge request is {info.state}", head)
    if (
        ledger is not None
        and request.trigger != "command"
        and ledger.last_reviewed(info.project_id, info.iid) == head
    ):
        return ReviewOutcome("skipped", f"head {head[:12]} was already reviewed", head)
    if (
        ledger is not None
        and request.trigger == "command"
        and not ledger.allow_command(info.project_id, info.iid, head)
    ):
        return ReviewOutcome("skipped", f"a review of {head[:12]} was requested moments ago", head)
    policy = engine.prompts.policy(None, _repo_overrides(gitlab, info, diff))
    metadata: dict[str, str | int | float | bool] = {
        "project": info.project_path[-64:],
        "mr": info.iid,
        "trigger": request.trigger,
    }
    with metrics.REVIEW_SECONDS.time():
        analysis = engine.analyse(diff.files, diff.refs, title=info.title, policy=policy, metadata=metadata)
    _count(analysis, policy)
    if request.dry_run:
        summary = _summary(analysis, diff, policy, [(f, _reason(p)) for f, p in analysis.placed], [], 0)
        return ReviewOutcome(
            "dry-run", "", head, analysis.plan.tier.value, 0, len(analysis.placed), 0, analysis.usage, summary
        )
    latest = gitlab.merge_request(info.project_id, info.iid).head_sha
    if latest and latest != head:
        metrics.REVIEWS.labels(outcome="superseded", tier=analysis.plan.tier.value).inc()
        return ReviewOutcome("superseded", f"head moved to {latest[:12]} during the review", head)
    existing = {t.fingerprint for t in gitlab.bot_threads(info.project_id, info.iid)}
    outcome = publish_inline(gitlab, info.project_id, info.iid, analysis.placed, existing)
    summary = _summary(
        analysis, diff, policy, outcome.in_summary, outcome.inline, len(outcome.already_posted)
    )
    gitlab.upsert_summary(info.project_id, info.iid, summary)
    if ledger is not None:
        ledger.record(info.project_id, info.iid, head)
    for finding in outcome.inline:
        metrics.FINDINGS.labels(aspect=finding.aspect, placement="inline").inc()
    for finding, _ in outcome.in_summary:
        metrics.FINDINGS.labels(aspect=finding.aspect, placement="summary").inc()
    metrics.REVIEWS.labels(outcome="reviewed", tier=analysis.plan.tier.value).inc()
    log.info(
        "reviewed %s!%s at %s: tier %s, %d inline, %d in summary, %d already posted, %d tokens, $%.4f",
        info.project_path,
        info.iid,
        head[:12],
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
        len(outcome.in_summary),
        len(outcome.already_posted),
        analysis.usage,
        summary,
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


def _reason(placement: Placement) -> str:
    return getattr(placement, "reason", "dry run")


def _summary(
    analysis: Analysis,
    diff: MergeRequestDiff,
    policy: TeamPolicy,
    in_summary: Sequence[tuple[Finding, str]],
    inline: Sequence[Finding],
    already_posted: int,
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
        )
    )


def _count(analysis: Analysis, policy: TeamPolicy) -> None:
    team = policy.team or "unknown"
    metrics.TOKENS.labels(kind="prompt", team=team).inc(analysis.usage.prompt_tokens)
    metrics.TOKENS.labels(kind="cached", team=team).inc(analysis.usage.cached_tokens)
    metrics.TOKENS.labels(kind="completion", team=team).inc(analysis.usage.completion_tokens)
    metrics.COST.labels(team=team).inc(analysis.usage.cost)
