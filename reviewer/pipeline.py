"""One review of a merge request: its latest diff (or, after a push, what the push changed),
the engine's findings, then threads on their lines and the one summary note.

Read, decide, apply: the MR is read, the engine's answers are stored per head as they arrive
(``ledger.answers``), what to write is decided as plain data (``decide_publication``), then it
is written, each write checked against what GitLab already holds. A retry, or a second worker,
runs the same steps again: the stored answers cost no model call and give the same findings,
the fingerprints already in GitLab are not posted again.

The domain depends on Protocols only: ``Ledger`` (reviewer.review.memory) for what is
remembered, ``ReviewObserver`` for what is counted; the app layer implements both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from reviewer.catalog import ServiceCatalog, ServiceContext
from reviewer.diff.parsing import DiffParseError, DiffRefs, FileDiff, MergeRequestDiff
from reviewer.diff.positions import Inline, InSummary
from reviewer.errors import ConfigError, GitLabError
from reviewer.gitlab import markdown
from reviewer.gitlab.client import BotThread, GitLabClient, MergeRequestInfo
from reviewer.gitlab.feedback import record_feedback
from reviewer.gitlab.increment import Scope, narrow_scope, review_scope
from reviewer.gitlab.markdown import Markdown
from reviewer.gitlab.publish import decide_publication, publish_inline, resolve_addressed
from reviewer.gitlab.summary import SummaryInput
from reviewer.model.usage import Usage
from reviewer.review.detectors.secrets import scan as scan_secrets
from reviewer.review.engine import Analysis, Engine
from reviewer.review.findings import Finding, Side, code_hash
from reviewer.review.memory import Ledger
from reviewer.review.prompts import TeamPolicy, parse_overrides
from reviewer.review.report import render_report

log = logging.getLogger(__name__)

REPO_CONFIG_FILE = ".ai-review.yaml"


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    project: int | str
    iid: int
    trigger: str = "manual"
    dry_run: bool = False
    delivery: str = ""  # the webhook delivery that asked; a retry of it is the same request
    # what a command asked for (reviewer.app.commands): everything again, one aspect, one file
    full: bool = False
    aspects: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    @property
    def narrowed(self) -> bool:
        """Only some aspects or files: the MR is not reviewed as a whole."""
        return bool(self.aspects or self.paths)


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    status: str  # "reviewed", "partial" (some files failed), "skipped", "superseded", "dry-run"
    reason: str = ""
    head_sha: str | None = None
    tier: str | None = None
    inline: int = 0
    in_summary: int = 0
    already_posted: int = 0
    usage: Usage = field(default_factory=Usage)
    summary: str = ""
    unreviewed: tuple[str, ...] = ()  # files whose model calls failed: the next trigger reviews them
    reused: int = 0  # model answers taken from the ones stored for this head
    findings: tuple[tuple[str, str], ...] = ()  # (aspect, "inline" or "summary") of each new finding
    off_diff: int = 0  # model findings dropped: their path is no file of the MR

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "head_sha": self.head_sha,
            "tier": self.tier,
            "inline": self.inline,
            "in_summary": self.in_summary,
            "already_posted": self.already_posted,
            "unreviewed": list(self.unreviewed),
            "reused": self.reused,
            "off_diff": self.off_diff,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost": self.usage.cost,
        }


class ReviewObserver(Protocol):
    """What a review reports for counting (the app layer turns it into metrics)."""

    def analysed(self, team: str, analysis: Analysis) -> None:
        """The engine ran: ``analysis.spent`` is what its model calls cost, counted once."""
        ...

    def finished(self, outcome: ReviewOutcome) -> None: ...


def review_merge_request(
    engine: Engine,
    gitlab: GitLabClient,
    request: ReviewRequest,
    *,
    ledger: Ledger | None = None,
    catalog: ServiceCatalog | None = None,
    observer: ReviewObserver | None = None,
) -> ReviewOutcome:
    outcome = _review(engine, gitlab, request, ledger, catalog, observer)
    if observer is not None:
        observer.finished(outcome)
    return outcome


def _review(
    engine: Engine,
    gitlab: GitLabClient,
    request: ReviewRequest,
    ledger: Ledger | None,
    catalog: ServiceCatalog | None,
    observer: ReviewObserver | None,
) -> ReviewOutcome:
    info, diff = gitlab.fetch_diff(request.project, request.iid)
    head = diff.refs.head_sha
    if info.state in ("closed", "merged", "locked"):
        return ReviewOutcome("skipped", f"merge request is {info.state}", head)
    command = request.trigger == "command"
    paused = ledger is not None and ledger.paused(info.project_id, info.iid)
    if paused and request.trigger not in ("command", "manual"):  # /ai-review pause: commands still run
        return ReviewOutcome("skipped", "automatic reviews of this merge request are paused", head)
    reviewed = ledger.last_reviewed(info.project_id, info.iid) if ledger is not None else None
    if reviewed == head and not command:
        return ReviewOutcome("skipped", f"head {head[:12]} was already reviewed", head)
    policy, service = team_policy(engine, gitlab, info, diff.refs, catalog=catalog, ledger=ledger)
    if request.aspects:
        policy = replace(policy, aspects=request.aspects)
    # the same review of a head, under the same prompts, at most once in a while
    version = engine.prompts.version("+".join(policy.aspects), policy)
    asked = ":".join([head, version, "full" * request.full, *request.paths])
    if (
        command
        and ledger is not None
        and not ledger.allow_command(info.project_id, info.iid, asked, request.delivery)
    ):
        return ReviewOutcome("skipped", f"a review of {head[:12]} was requested moments ago", head)
    # a push or `/ai-review`: what is new since the last review; `full`, one aspect or file: all of it
    since_last = request.trigger == "pushed" or (command and not request.full and not request.narrowed)
    scope = review_scope(
        diff.files,
        head,
        follow_up=since_last,
        last_reviewed=reviewed,
        unfinished=ledger.unfinished(info.project_id, info.iid)
        if ledger is not None and (not command or since_last)
        else None,
        interdiff=lambda since: _interdiff(gitlab, info, since, head),
    )
    if request.narrowed:
        scope = narrow_scope(scope, request.paths)
        if not scope.files:
            return ReviewOutcome("skipped", "the file asked for is not in the merge request's diff", head)
    metadata: dict[str, str | int | float | bool] = {
        "project": info.project_path[-64:],
        "mr": info.iid,
        "trigger": request.trigger,
    }
    analysis = engine.analyse(
        scope.files,
        diff.refs,
        title=info.title,
        policy=policy,
        metadata=metadata,
        anchor_files=diff.files,
        service=service.describe() if service else "",
        answers=ledger.answers(info.project_id, info.iid, head) if ledger is not None else None,
    )
    if observer is not None:
        observer.analysed(policy.team or "unknown", analysis)
    if ledger is not None:  # findings people dismissed on this MR are never raised again there
        analysis = analysis.without(ledger.ignored(info.project_id, info.iid))
    carried = _carried_over(ledger, info, diff, analysis, request.aspects) if scope.partial else []
    tier = analysis.plan.tier.value
    if request.dry_run:
        inline = [f for f, p in analysis.placed if isinstance(p, Inline)]
        listed = [(f, p.reason) for f, p in analysis.placed if isinstance(p, InSummary)] + carried
        summary = _summary(analysis, diff, listed, inline, 0, scope)
        comments = render_report(inline, "text", tier=analysis.plan.tier, usage=analysis.usage)
        shown = (
            f"Inline comments it would post:\n{comments}\n\nThe summary note it would post:\n{summary.text}"
        )
        return ReviewOutcome(
            "dry-run",
            "",
            head,
            tier,
            len(inline),
            len(listed),
            0,
            analysis.usage,
            shown,
            off_diff=analysis.off_diff,
        )
    latest = gitlab.merge_request(info.project_id, info.iid).head_sha
    if latest and latest != head:
        return ReviewOutcome("superseded", f"head moved to {latest[:12]} during the review", head, tier)
    threads = gitlab.bot_threads(info.project_id, info.iid)
    published = publish_inline(
        gitlab, info.project_id, info.iid, decide_publication(analysis.placed, threads, head)
    )
    addressed = resolve_addressed(
        gitlab, info.project_id, info.iid, threads, _still_present(diff.files, threads)
    )
    listed = published.in_summary + carried
    summary = _summary(
        analysis,
        diff,
        listed,
        published.inline,
        len(published.already_posted),
        scope,
        resolved=len(addressed),
    )
    gitlab.upsert_summary(info.project_id, info.iid, summary)
    if ledger is not None and not request.narrowed:  # one aspect or file is no review of the head
        ledger.record(info.project_id, info.iid, head, listed, unfinished=analysis.failed_paths)
    if ledger is not None:
        record_feedback(
            ledger, gitlab, info, diff, analysis, policy.team, published.inline, threads, addressed
        )
    log.info(
        "reviewed %s!%s at %s%s: tier %s, %d inline in %d new threads, %d in summary, "
        "%d already posted, %d files not reviewed, %d answers reused, %d tokens, $%.4f",
        info.project_path,
        info.iid,
        head[:12],
        f" (changes since {scope.since[:12]})" if scope.since else "",
        tier,
        len(published.inline),
        published.threads,
        len(published.in_summary),
        len(published.already_posted),
        len(analysis.failed_paths),
        analysis.reused,
        analysis.spent.prompt_tokens,
        analysis.spent.cost,
    )
    return ReviewOutcome(
        "reviewed" if analysis.complete else "partial",
        "",
        head,
        tier,
        len(published.inline),
        len(listed),
        len(published.already_posted),
        analysis.usage,
        summary.text,
        unreviewed=analysis.failed_paths,
        reused=analysis.reused,
        findings=tuple((f.aspect, "inline") for f in published.inline)
        + tuple((f.aspect, "summary") for f, _ in published.in_summary),
        off_diff=analysis.off_diff,
    )


def _interdiff(gitlab: GitLabClient, info: MergeRequestInfo, since: str, head: str) -> list[FileDiff] | None:
    """What changed from ``since`` to ``head``; None when they cannot be compared any more
    (force-pushed away): then the whole MR is reviewed."""
    try:
        return gitlab.compare(info.project_id, since, head)
    except (GitLabError, DiffParseError) as exc:
        log.info(
            "reviewing all of %s!%s: cannot compare with %s: %s", info.project_path, info.iid, since[:12], exc
        )
        return None


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
    ledger: Ledger | None,
    info: MergeRequestInfo,
    diff: MergeRequestDiff,
    analysis: Analysis,
    aspects: Sequence[str] = (),
) -> list[tuple[Finding, str]]:
    """What the previous summary listed for files (or, for a review of some ``aspects`` only,
    other aspects) this review did not review again."""
    if ledger is None:
        return []
    reviewed = {path for chunk in analysis.plan.chunks for path in chunk.paths}
    in_mr = {f.path for f in diff.files}
    return [
        (f, r)
        for f, r in ledger.in_summary(info.project_id, info.iid)
        if f.path in in_mr and (f.path not in reviewed or (aspects and f.aspect not in aspects))
    ]


def team_policy(
    engine: Engine,
    gitlab: GitLabClient,
    info: MergeRequestInfo,
    refs: DiffRefs,
    *,
    catalog: ServiceCatalog | None = None,
    ledger: Ledger | None = None,
) -> tuple[TeamPolicy, ServiceContext | None]:
    """The policy a review of this MR follows: the owner team's file, the repository's
    ``.ai-review.yaml`` (both read at the target branch) and the rules remembered for it."""
    service = _service(catalog, gitlab, info, refs)
    policy = engine.prompts.policy(service.owner if service else None, _repo_overrides(gitlab, info, refs))
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


def _repo_overrides(gitlab: GitLabClient, info: MergeRequestInfo, refs: DiffRefs) -> Mapping[str, Any]:
    """The repository's ``.ai-review.yaml`` as the target branch has it: an MR cannot rewrite the
    rules of its own review. An invalid file is reported, not fatal."""
    text = gitlab.read_file(info.project_id, REPO_CONFIG_FILE, refs.start_sha)
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
    scope: Scope,
    resolved: int = 0,
) -> Markdown:
    return markdown.summary(
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
            since=scope.since,
            resolved=resolved,
            retried=scope.retried,
            unreviewed=analysis.failed_paths,
            off_diff=analysis.off_diff,
            mask=analysis.masker,
        )
    )
