"""Writing what a review decided as one batch, the way a careful reviewer submits a review: every
new thread, every reply and every resolution is a draft, and one ``bulk_publish`` makes them
visible at once, so the MR's people get one notification for the review, not one per finding.

Crash-safe like the rest of publishing: before drafting, the bot's drafts already on the MR are
compared with what this review plans (by their fingerprint markers, or by the thread a reply is
for). A draft that matches is kept (rewritten with its position when its text or line changed:
GitLab clears a position an update leaves out), one that does not is deleted, and only what is
missing is created; so a retry after a crash between drafting and publishing publishes the same
drafts, never a second set. After publishing, the bot's threads are read back: a draft GitLab did
not save (it drops a note whose position it refuses, without an error) is posted as a thread of
its own, and lands in the summary when GitLab refuses that too.

Where GitLab has no Draft Notes API (403 or 404), ``batched=False`` writes thread by thread as
before; the caller remembers that per MR.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from reviewer.diff.positions import Position
from reviewer.errors import GitLabError
from reviewer.gitlab import markdown
from reviewer.gitlab.api import BotThread, position_payload
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.drafts import (
    DraftNote,
    bulk_publish,
    create_draft,
    delete_draft,
    list_drafts,
    position_key,
    update_draft,
)
from reviewer.gitlab.markdown import Markdown
from reviewer.gitlab.markers import FINGERPRINT_MARKER
from reviewer.gitlab.publish import LineThread, Publication, PublishOutcome, publish_inline
from reviewer.review.findings import Finding

__all__ = ["BatchOutcome", "DraftsUnavailable", "publish_batch"]

log = logging.getLogger(__name__)


class DraftsUnavailable(GitLabError):
    """GitLab has no Draft Notes API here, or closes it to the bot (403, 404): nothing was written."""


@dataclass
class BatchOutcome(PublishOutcome):
    resolved: int = 0  # threads resolved because their lines changed
    batched: bool = True  # published as one review; False: thread by thread
    threads_after: list[BotThread] = field(default_factory=list)  # the bot's threads once published


@dataclass(frozen=True, slots=True)
class _Planned:
    """One draft the review needs."""

    body: Markdown
    position: Position | None = None
    reply_to: str | None = None
    resolve: bool = False
    findings: tuple[Finding, ...] = ()
    line: LineThread | None = None

    @property
    def key(self) -> tuple[str, object]:
        if self.reply_to is not None:
            return ("reply", self.reply_to)
        return ("thread", frozenset(f.fingerprint for f in self.findings))


def publish_batch(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    publication: Publication,
    resolutions: Sequence[BotThread],
    *,
    reviewer_state: str | None,
    summary: Markdown | None,
    state_changed: bool = False,
    batched: bool = True,
) -> BatchOutcome:
    """Publish new threads, replies and the resolution of ``resolutions`` (threads whose lines are
    gone); with ``batched``, as one review carrying ``reviewer_state`` (every publish does: GitLab
    would otherwise mark the bot "reviewed") and, when the MR has no summary yet, ``summary``. With
    nothing to publish, the review is still submitted when ``state_changed`` or ``summary`` asks.
    Raises DraftsUnavailable when GitLab answers 403 or 404 to the first draft call (nothing was
    written then)."""
    if not batched:
        return _one_by_one(gitlab, project, iid, publication, resolutions)
    try:
        existing = list_drafts(gitlab, project, iid)
    except GitLabError as exc:
        if exc.status in (403, 404):
            raise DraftsUnavailable(str(exc), status=exc.status) from exc
        raise
    replying = {did for did, _ in publication.replies}
    planned = [
        _Planned(markdown.thread(t.findings, t.position), t.position, findings=t.findings, line=t)
        for t in publication.new_threads
    ]
    planned += [
        _Planned(markdown.thread(t.findings, t.position), None, reply_to=did, findings=t.findings, line=t)
        for did, t in publication.replies
    ]
    planned += [
        _Planned(markdown.resolved_reply(), reply_to=t.discussion_id, resolve=True)
        for t in resolutions
        if t.discussion_id not in replying and not t.resolution_explained
    ]
    ids = _reconcile(gitlab, project, iid, existing, planned)
    if ids or summary is not None or state_changed:
        bulk_publish(gitlab, project, iid, drafts=ids, reviewer_state=reviewer_state, summary=summary)
    return _read_back(gitlab, project, iid, publication, resolutions, planned)


def _reconcile(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    existing: Sequence[DraftNote],
    planned: Sequence[_Planned],
) -> list[int]:
    """Make the bot's drafts exactly ``planned``; returns their ids."""
    wanted = {p.key: p for p in planned}
    kept: dict[tuple[str, object], int] = {}
    for draft in existing:
        key = _key_of(draft)
        if key is None:
            continue  # not a draft of a review (no marker, no thread): not the bot's to touch
        plan = wanted.get(key)
        if plan is None or key in kept:
            delete_draft(gitlab, project, iid, draft.id)  # stale, or already published
            continue
        if draft.resolve_discussion != plan.resolve:  # an update cannot change it: drafted anew
            delete_draft(gitlab, project, iid, draft.id)
            continue
        kept[key] = draft.id
        position = position_key(position_payload(plan.position)) if plan.position is not None else None
        if draft.note != plan.body.text or draft.position != position:
            update_draft(gitlab, project, iid, draft.id, plan.body, plan.position)
    ids = list(kept.values())
    for key, plan in wanted.items():
        if key in kept:
            continue
        try:
            ids.append(
                create_draft(
                    gitlab,
                    project,
                    iid,
                    plan.body,
                    position=plan.position,
                    reply_to=plan.reply_to,
                    resolve=plan.resolve,
                )
            )
        except GitLabError as exc:
            if exc.status != 400:
                raise
            log.info("GitLab refused a draft on %s!%s (%s): it is posted on its own", project, iid, exc)
    if existing or ids:
        log.info("%d drafts on %s!%s (%d kept from before)", len(ids), project, iid, len(kept))
    return ids


def _key_of(draft: DraftNote) -> tuple[str, object] | None:
    if draft.discussion_id:
        return ("reply", draft.discussion_id)
    fingerprints = frozenset(m.group(1) for m in FINGERPRINT_MARKER.finditer(draft.note))
    return ("thread", fingerprints) if fingerprints else None


def _read_back(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    publication: Publication,
    resolutions: Sequence[BotThread],
    planned: Sequence[_Planned],
) -> BatchOutcome:
    """What GitLab holds once the review is published; what it did not keep is posted on its own."""
    outcome = BatchOutcome(
        in_summary=list(publication.in_summary), already_posted=list(publication.already_posted)
    )
    after = gitlab.bot_threads(project, iid)
    carried = {fp for t in after for fp in t.fingerprints}
    missing = 0
    for plan in planned:
        if plan.line is None or all(f.fingerprint in carried for f in plan.findings):
            if plan.line is not None:
                outcome.inline.extend(plan.findings)
                outcome.threads += plan.reply_to is None
                outcome.replies += plan.reply_to is not None
            continue
        missing += 1
        single = Publication(
            new_threads=[plan.line] if plan.reply_to is None else [],
            replies=[(plan.reply_to, plan.line)] if plan.reply_to is not None else [],
        )
        posted = publish_inline(gitlab, project, iid, single)
        outcome.inline += posted.inline
        outcome.in_summary += posted.in_summary
        outcome.threads += posted.threads
        outcome.replies += posted.replies
    by_id = {t.discussion_id: t for t in after}
    for thread in resolutions:
        now = by_id.get(thread.discussion_id)
        if now is not None and not now.resolved:
            explained = now.resolution_explained
            gitlab.resolve_thread(
                project, iid, thread.discussion_id, None if explained else markdown.resolved_reply()
            )
    if missing:
        log.warning("GitLab did not keep %d drafts of %s!%s: posted on their own", missing, project, iid)
        after = gitlab.bot_threads(project, iid)
    outcome.resolved = len(resolutions)
    outcome.threads_after = after
    return outcome


def _one_by_one(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    publication: Publication,
    resolutions: Sequence[BotThread],
) -> BatchOutcome:
    posted = publish_inline(gitlab, project, iid, publication)
    for thread in resolutions:
        reply = None if thread.resolution_explained else markdown.resolved_reply()
        gitlab.resolve_thread(project, iid, thread.discussion_id, reply)
    return BatchOutcome(
        inline=posted.inline,
        in_summary=posted.in_summary,
        already_posted=posted.already_posted,
        threads=posted.threads,
        replies=posted.replies,
        resolved=len(resolutions),
        batched=False,
        threads_after=gitlab.bot_threads(project, iid),
    )
