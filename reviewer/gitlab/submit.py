"""Submitting a decided review, as a careful reviewer does: weigh what stands open on the MR into a
verdict (with any break-glass override), publish the threads as one batch with the bot's reviewer
state, settle the bot's approval when the team asks for it, and write the summary that opens with
the verdict and links each finding to its thread.

Nothing here is remembered by itself: the MR's ``PublishState`` comes in and the new one goes out,
for the caller's ledger (draft notes unavailable, approval refused, the verdict, an override).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from reviewer.gitlab import markdown
from reviewer.gitlab.api import BotThread
from reviewer.gitlab.approvals import Approval, settle_approval
from reviewer.gitlab.batch import BatchOutcome, DraftsUnavailable, publish_batch
from reviewer.gitlab.client import GitLabClient, MergeRequestInfo
from reviewer.gitlab.overrides import Refusal, command_override, label_override
from reviewer.gitlab.publish import Publication, standing
from reviewer.gitlab.summary import SummaryInput
from reviewer.review.findings import Finding
from reviewer.review.memory import PublishState
from reviewer.review.prompts import TeamPolicy
from reviewer.review.verdict import Override, Standing, Verdicts, judge

__all__ = ["Submitted", "submit_review", "weigh"]

log = logging.getLogger(__name__)


@dataclass
class Submitted:
    outcome: BatchOutcome
    verdicts: Verdicts
    summary: str
    state: PublishState
    approval: Approval | None = None
    new_override: Override | None = None  # an override applied for the first time on this MR
    refusals: list[tuple[str, str]] = field(default_factory=list)


def weigh(
    gitlab: GitLabClient,
    info: MergeRequestInfo,
    stand: Sequence[Standing],
    policy: TeamPolicy,
    state: PublishState,
    *,
    complete: bool,
    note_id: int | None = None,
) -> tuple[Verdicts, PublishState, list[tuple[str, str]]]:
    """The verdict over the findings standing open, with the overrides that apply: the one a
    ``/ai-review override`` note (``note_id``) asks for now, the one recorded before, and the
    team's label. Returns the verdict, the state with a new command override recorded, and the
    overrides refused (who, why)."""
    blocking = [s.fingerprint for s in stand if policy.blocks(s.aspect, s.severity)]
    refusals: list[tuple[str, str]] = []
    if note_id is not None:
        asked = command_override(gitlab, info.project_id, info.iid, note_id, blocking)
        if isinstance(asked, Refusal):
            refusals.append((asked.by, asked.why))
        elif not blocking:
            refusals.append((asked.by, "nothing blocks this merge request"))
        else:
            state = replace(state, override=asked)
    overrides = [state.override] if state.override is not None else []
    if blocking:
        label = label_override(gitlab, info.project_id, info.iid, policy.override_label, info.labels)
        if isinstance(label, Refusal):
            refusals.append((label.by, label.why))
        elif label is not None:
            overrides.append(label)
    return judge(stand, policy.blocks, complete=complete, overrides=overrides), state, refusals


def submit_review(
    gitlab: GitLabClient,
    info: MergeRequestInfo,
    head: str,
    publication: Publication,
    threads: Sequence[BotThread],
    resolving: Sequence[BotThread],
    carried: Sequence[tuple[Finding, str]],
    base: SummaryInput,
    policy: TeamPolicy,
    state: PublishState,
    *,
    note_id: int | None = None,
) -> Submitted:
    """Publish the review of ``head`` that ``publication`` and ``resolving`` decided."""
    project, iid = info.project_id, info.iid
    listed = [*publication.in_summary, *carried]
    stand = standing(threads, resolving, publication, listed)
    verdicts, state, refusals = weigh(
        gitlab, info, stand, policy, state, complete=not base.unreviewed, note_id=note_id
    )
    changed = (state.verdict, state.overridden) != (verdicts.verdict.value, verdicts.overridden)
    first = not gitlab.has_summary(project, iid)
    preliminary = None
    if first:  # published with the review where GitLab takes it (19.2+): one notification
        preliminary = markdown.summary(
            replace(
                base,
                inline=[f for t in publication.new_threads for f in t.findings],
                in_summary=listed,
                verdicts=verdicts,
                refusals=tuple(refusals),
                web_url=info.web_url,
            )
        )
    batched = not state.drafts_unavailable
    while True:
        try:
            outcome = publish_batch(
                gitlab,
                project,
                iid,
                publication,
                resolving,
                reviewer_state=verdicts.reviewer_state,
                state_changed=changed or first,
                summary=preliminary,
                batched=batched,
            )
            break
        except DraftsUnavailable as exc:
            log.warning(
                "no draft notes on %s!%s (%s): its reviews are published thread by thread from now on",
                info.project_path,
                iid,
                exc,
            )
            state, batched = replace(state, drafts_unavailable=True), False
    note_ids = {fp: t.note_id for t in outcome.threads_after for fp in t.fingerprints}
    linked = tuple(replace(b, note_id=note_ids.get(b.fingerprint, b.note_id)) for b in verdicts.blocking)
    verdicts = replace(verdicts, blocking=linked)
    approval = None
    if policy.approve:
        approval = settle_approval(gitlab, project, iid, head, verdicts, refused=state.approval_refused)
        state = replace(state, approval_refused=approval.refused)
    text = markdown.summary(
        replace(
            base,
            inline=outcome.inline,
            in_summary=[*outcome.in_summary, *carried],
            already_posted=len(outcome.already_posted),
            already=tuple(outcome.already_posted),
            resolved=outcome.resolved,
            verdicts=verdicts,
            refusals=tuple(refusals),
            web_url=info.web_url,
            note_ids=note_ids,
            approval=approval.action if approval else "",
            approval_refused=state.approval_refused,
        )
    )
    gitlab.upsert_summary(project, iid, text)
    new_override = verdicts.override if verdicts.overridden and not state.override_counted else None
    state = replace(
        state,
        verdict=verdicts.verdict.value,
        overridden=verdicts.overridden,
        override_counted=state.override_counted or new_override is not None,
    )
    return Submitted(outcome, verdicts, text.text, state, approval, new_override, refusals)
