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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from reviewer.catalog import ServiceCatalog
from reviewer.diff.parsing import DiffParseError, FileDiff, MergeRequestDiff
from reviewer.diff.positions import Inline, InSummary
from reviewer.errors import GitLabError
from reviewer.gitlab import markdown
from reviewer.gitlab.client import GitLabClient, MergeRequestInfo
from reviewer.gitlab.feedback import record_feedback
from reviewer.gitlab.increment import Scope, narrow_scope, review_scope
from reviewer.gitlab.publish import addressed, decide_publication, still_present
from reviewer.gitlab.repository_files import file_reader, repository_instructions
from reviewer.gitlab.submit import submit_review
from reviewer.gitlab.summary import SummaryInput
from reviewer.gitlab.versions import version_files
from reviewer.model.usage import Usage
from reviewer.policy import team_policy
from reviewer.review.engine import Analysis, Engine
from reviewer.review.findings import Finding
from reviewer.review.memory import Ledger, PublishState
from reviewer.review.prompts import TeamPolicy, with_instructions
from reviewer.review.report import render_report
from reviewer.review.verdict import Override, Standing, judge

log = logging.getLogger(__name__)


AUTOMATIC = ("opened", "pushed", "reopened", "ready", "labeled")  # not asked for by a person
RERUNS = ("command", "override", "labeled")  # review the head again even when it was reviewed
ASKED = ("command", "override", "manual")  # asked for by a person: they run on a paused MR too


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    project: int | str
    iid: int
    trigger: str = "manual"  # the webhook's ("opened", "pushed", "command"...), "sweep" or "manual"
    dry_run: bool = False
    delivery: str = ""  # the webhook delivery that asked; a retry of it is the same request
    head_sha: str | None = None  # the head the event saw; the review takes the MR's latest
    requested_by: int | None = None  # the author of a /ai-review note
    job_id: str = ""  # the queued job's id: its retries are not a second request of a command
    note_id: int | None = None  # the note that asked (``/ai-review override <reason>``)
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
    verdict: str = ""  # "looks good", "comments", "changes requested"
    overridden: bool = False
    approval: str = ""  # what happened to the bot's approval ("approved", "unapproved", "refused", ...)

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
            "verdict": self.verdict,
            "overridden": self.overridden,
            "approval": self.approval,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost": self.usage.cost,
        }


class ReviewObserver(Protocol):
    """What a review reports for counting (the app layer turns it into metrics and records)."""

    def opened(self, info: MergeRequestInfo) -> None:
        """The merge request under review, as read before anything is decided."""
        ...

    def analysed(self, team: str, analysis: Analysis) -> None:
        """The engine ran: ``analysis.spent`` is what its model calls cost, counted once."""
        ...

    def overridden(self, team: str, override: Override) -> None:
        """A blocking verdict was overridden on an MR for the first time (break glass)."""
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
    if (  # most label changes matter not at all: only to a verdict that requests changes
        request.trigger == "labeled"
        and ledger is not None
        and ledger.publish_state(request.project, request.iid).verdict != "changes requested"
    ):
        return ReviewOutcome("skipped", "the labels change nothing of the verdict")
    info, diff = gitlab.fetch_diff(request.project, request.iid)
    if observer is not None:
        observer.opened(info)
    head = diff.refs.head_sha
    if info.state in ("closed", "merged", "locked"):
        return ReviewOutcome("skipped", f"merge request is {info.state}", head)
    trigger = request.trigger
    if trigger not in ASKED and ledger is not None and ledger.paused(info.project_id, info.iid):
        return ReviewOutcome("skipped", "automatic reviews of this merge request are paused", head)
    policy, service = team_policy(engine, gitlab, info, diff.refs, catalog=catalog, ledger=ledger)
    if request.aspects:
        policy = replace(policy, aspects=request.aspects)
    if info.draft and not policy.review_drafts and trigger in AUTOMATIC:
        # not recorded as reviewed: marking it ready reviews it
        return ReviewOutcome("skipped", "merge request is a draft: reviewed once marked ready", head)
    state = ledger.publish_state(info.project_id, info.iid) if ledger is not None else PublishState()
    reviewed = ledger.last_reviewed(info.project_id, info.iid) if ledger is not None else None
    if trigger == "labeled" and not _override_label_matters(policy, info, state, reviewed):
        return ReviewOutcome("skipped", "the labels change nothing of the verdict", head)
    if reviewed == head and trigger not in RERUNS:
        return ReviewOutcome("skipped", f"head {head[:12]} was already reviewed", head)
    command = trigger == "command"
    # the same review of a head, under the same prompts, at most once in a while
    version = engine.prompts.version("+".join(policy.aspects), policy)
    asked = ":".join([head, version, "full" * request.full, *request.paths])
    if (
        ledger is not None
        and command
        and not ledger.allow_command(info.project_id, info.iid, asked, request.job_id or request.delivery)
    ):
        return ReviewOutcome("skipped", f"a review of {head[:12]} was requested moments ago", head)
    # a push (or a sweep, which finds pushes whose hook was lost) or a plain `/ai-review`: what is
    # new since the last review; `full`, one aspect or one file: all of it
    since_last = trigger in ("pushed", "sweep") or (command and not request.full and not request.narrowed)
    scope = review_scope(
        diff.files,
        head,
        follow_up=since_last,
        last_reviewed=reviewed,
        unfinished=ledger.unfinished(info.project_id, info.iid)
        if ledger is not None and (not command or since_last)
        else None,
        interdiff=lambda since: _interdiff(gitlab, info, since, head),
        own_patches=lambda since: version_files(gitlab, info.project_id, info.iid, since),
    )
    if request.narrowed:
        scope = narrow_scope(scope, request.paths)
        if not scope.files:
            return ReviewOutcome("skipped", "the file asked for is not in the merge request's diff", head)
    named = repository_instructions(gitlab, info, diff.refs.start_sha, scope.files)
    policy = with_instructions(policy, named)
    metadata: dict[str, str | int | float | bool] = {
        "project": info.project_path[-64:],
        "mr": info.iid,
        "trigger": trigger,
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
        head_files=file_reader(gitlab, info, head),
    )
    team = policy.team or "unknown"
    if observer is not None:
        observer.analysed(team, analysis)
    if ledger is not None:  # findings people dismissed on this MR are never raised again there
        analysis = analysis.without(ledger.ignored(info.project_id, info.iid))
    carried = _carried_over(ledger, info, diff, analysis, request.aspects) if scope.partial else []
    tier = analysis.plan.tier.value
    base = _summary_input(analysis, diff, scope, policy)
    if request.dry_run:
        return _dry_run(analysis, base, carried, policy, head)
    latest = gitlab.merge_request(info.project_id, info.iid).head_sha
    if latest and latest != head:
        return ReviewOutcome("superseded", f"head moved to {latest[:12]} during the review", head, tier)
    threads = gitlab.bot_threads(info.project_id, info.iid)
    publication = decide_publication(analysis.placed, threads, head)
    resolving = addressed(threads, still_present(diff.files, threads))
    note_id = request.note_id if trigger == "override" else None
    done = submit_review(
        gitlab, info, head, publication, threads, resolving, carried, base, policy, state, note_id=note_id
    )
    published = done.outcome
    listed = published.in_summary + carried
    if ledger is not None:
        ledger.save_publish_state(info.project_id, info.iid, done.state)
        if not request.narrowed:  # one aspect or file is no review of the head
            ledger.record(info.project_id, info.iid, head, listed, unfinished=analysis.failed_paths)
        record_feedback(
            ledger, gitlab, info, diff, analysis, policy.team, published.inline, threads, resolving
        )
    if observer is not None and done.new_override is not None:
        observer.overridden(team, done.new_override)
    log.info(
        "reviewed %s!%s at %s%s: tier %s, verdict %s%s, %d inline in %d new threads, %d in summary, "
        "%d already posted, %d files not reviewed, %d answers reused, %d tokens, $%.4f",
        info.project_path,
        info.iid,
        head[:12],
        f" (changes since {scope.since[:12]})" if scope.since else "",
        tier,
        done.verdicts.verdict.value,
        " (overridden)" if done.verdicts.overridden else "",
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
        done.summary,
        unreviewed=analysis.failed_paths,
        reused=analysis.reused,
        findings=tuple((f.aspect, "inline") for f in published.inline)
        + tuple((f.aspect, "summary") for f, _ in published.in_summary),
        off_diff=analysis.off_diff,
        verdict=done.verdicts.verdict.value,
        overridden=done.verdicts.overridden,
        approval=done.approval.action if done.approval else "",
    )


def _dry_run(
    analysis: Analysis,
    base: SummaryInput,
    carried: list[tuple[Finding, str]],
    policy: TeamPolicy,
    head: str,
) -> ReviewOutcome:
    """What a review would post, without GitLab's threads: the verdict weighs this review's findings."""
    inline = [f for f, p in analysis.placed if isinstance(p, Inline)]
    listed = [(f, p.reason) for f, p in analysis.placed if isinstance(p, InSummary)] + carried
    stand = [Standing(f.fingerprint, f.aspect, f.severity) for f in [*inline, *(f for f, _ in listed)]]
    verdicts = judge(stand, policy.blocks, complete=analysis.complete)
    summary = markdown.summary(replace(base, inline=inline, in_summary=listed, verdicts=verdicts))
    comments = render_report(inline, "text", tier=analysis.plan.tier, usage=analysis.usage)
    shown = f"Inline comments it would post:\n{comments}\n\nThe summary note it would post:\n{summary.text}"
    return ReviewOutcome(
        "dry-run",
        "",
        head,
        analysis.plan.tier.value,
        len(inline),
        len(listed),
        0,
        analysis.usage,
        shown,
        off_diff=analysis.off_diff,
        verdict=verdicts.verdict.value,
    )


def _override_label_matters(
    policy: TeamPolicy, info: MergeRequestInfo, state: PublishState, reviewed: str | None
) -> bool:
    """A label change re-reviews only when the override label came or went on an MR whose last
    verdict requested changes."""
    if reviewed is None or state.verdict != "changes requested":
        return False
    return (policy.override_label in info.labels) != state.overridden


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


def _summary_input(
    analysis: Analysis, diff: MergeRequestDiff, scope: Scope, policy: TeamPolicy
) -> SummaryInput:
    """What the summary says of this analysis; the publishing step adds what it wrote."""
    return SummaryInput(
        head_sha=diff.refs.head_sha,
        plan=analysis.plan,
        inline=[],
        in_summary=[],
        already_posted=0,
        over_cap=analysis.over_cap,
        failures=analysis.failures,
        usage=analysis.usage,
        prompt_versions=analysis.prompt_versions,
        aspects=analysis.aspects,
        model_configured=analysis.model_calls > 0 or bool(analysis.aspects),
        since=scope.since,
        retried=scope.retried,
        unreviewed=analysis.failed_paths,
        off_diff=analysis.off_diff,
        mask=analysis.masker,
        files=diff.files,
        problems=policy.problems,
        rebased=scope.rebased,
        second_look_dropped=len(analysis.second_look.dropped),
        second_look_problem=analysis.second_look.problem,
    )
