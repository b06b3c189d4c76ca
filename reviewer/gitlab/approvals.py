"""The bot's approval, when a team asks for it (``approve: true``): GitLab's merge request
approvals API (lib/api/merge_request_approvals.rb).

``POST .../approve`` with ``sha`` approves exactly the reviewed head: GitLab answers 409 when the
branch has moved since, so a later push is never approved by accident. It answers 403 to a token
without the right to approve (and 401 to a user who already approved, so the bot asks first with
``GET .../approvals``). ``POST .../unapprove`` answers 404 when the user had not approved.

A refusal is remembered by the caller (the ledger) and named in the summary, never retried in a
loop; a moved head is left to the review of the new head.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from reviewer.errors import GitLabError
from reviewer.gitlab.api import ONCE
from reviewer.gitlab.client import GitLabClient
from reviewer.review.verdict import Verdict, Verdicts

__all__ = ["Approval", "settle_approval"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Approval:
    """What the review did about the bot's approval."""

    action: str  # "approved", "unapproved", "kept", "none", "refused", "head moved"
    refused: str = ""  # GitLab's answer when the bot may not approve


def settle_approval(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    head_sha: str,
    verdicts: Verdicts,
    *,
    refused: str = "",
) -> Approval:
    """Approve the reviewed head when the verdict is clean, withdraw the bot's approval when a
    finding blocks (overridden or not: the bot never approves what it found blocking), otherwise
    leave it as it is. ``refused``: an earlier refusal; nothing is tried again."""
    if refused:
        return Approval("refused", refused)
    approved = _has_approved(gitlab, project, iid)
    if verdicts.approvable:
        return Approval("kept") if approved else _approve(gitlab, project, iid, head_sha)
    if verdicts.verdict is Verdict.CHANGES_REQUESTED and approved:
        return _unapprove(gitlab, project, iid)
    return Approval("kept" if approved else "none")


def _has_approved(gitlab: GitLabClient, project: int | str, iid: int) -> bool:
    mr = gitlab.mr_resource(project, iid)
    state = gitlab.call(
        f"read the approvals of {project}!{iid}", lambda: mr.approvals.get(max_retries=gitlab.retries)
    )
    return bool(state.attributes.get("user_has_approved"))


def _approve(gitlab: GitLabClient, project: int | str, iid: int, head_sha: str) -> Approval:
    mr = gitlab.mr_resource(project, iid)
    try:
        gitlab.create_once(
            f"approve {project}!{iid}",
            lambda: mr.approve(sha=head_sha, max_retries=gitlab.retries, **ONCE),
            lambda: "approved" if _has_approved(gitlab, project, iid) else None,
        )
    except GitLabError as exc:
        if exc.status == 409:  # the head moved: the review of the new head decides
            log.info("not approving %s!%s: its head is no longer %s", project, iid, head_sha[:12])
            return Approval("head moved")
        if exc.status in (401, 403):
            log.warning("the bot may not approve %s!%s: GitLab answered %s", project, iid, exc.status)
            return Approval("refused", f"GitLab answered {exc.status}")
        raise
    return Approval("approved")


def _unapprove(gitlab: GitLabClient, project: int | str, iid: int) -> Approval:
    mr = gitlab.mr_resource(project, iid)
    try:
        gitlab.call(f"unapprove {project}!{iid}", lambda: mr.unapprove(max_retries=gitlab.retries))
    except GitLabError as exc:
        if exc.status != 404:  # 404: not (any more) approved by the bot
            raise
    return Approval("unapproved")
