"""GitLab's Draft Notes API (doc/api/draft_notes.md, lib/api/draft_notes.rb), as the bot uses it:
a review's comments are drafts, seen by the bot alone, until one ``bulk_publish`` makes them
threads and replies at once (one notification for the review).

Field notes: ``note`` is required on create and on update; an update without ``position``
clears the position (gitlab-org/gitlab#631434), so an update always sends both; a reply names
``in_reply_to_discussion_id`` and, with ``resolve_discussion``, resolves its thread when published
(without it, publishing a reply unresolves the thread); one draft per author and thread.
``bulk_publish`` answers 204; since GitLab 19.2 it takes ``reviewer_state`` (``reviewed``,
``requested_changes``) and ``note`` (a summary comment), which older versions ignore. Publishing
does not save a draft whose position GitLab refuses: such a draft vanishes without an error, so
the caller reads back what was published.

Creation calls and ``bulk_publish`` are sent once; after a lost answer the drafts are read back
(by their markers, or by the thread a reply is for): there, it is done; not there, TransientError.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reviewer.diff.positions import Position
from reviewer.errors import GitLabError
from reviewer.gitlab.api import ONCE, position_payload, same_write
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.markdown import Markdown

__all__ = ["DraftNote", "bulk_publish", "create_draft", "delete_draft", "list_drafts", "update_draft"]

log = logging.getLogger(__name__)

_POSITION_KEYS = ("base_sha", "start_sha", "head_sha", "old_path", "new_path", "old_line", "new_line")


@dataclass(frozen=True, slots=True)
class DraftNote:
    """One of the bot's drafts, as GitLab lists it."""

    id: int
    note: str
    position: tuple[Any, ...] | None  # the position's SHAs, paths and lines; None on no line
    discussion_id: str | None  # the thread it replies to
    resolve_discussion: bool


def position_key(payload: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What identifies a position (SHAs, paths, lines), to compare a draft's with a planned one."""
    if not payload or not payload.get("head_sha"):
        return None
    return tuple(payload.get(key) for key in _POSITION_KEYS)


def list_drafts(gitlab: GitLabClient, project: int | str, iid: int) -> list[DraftNote]:
    """The bot's drafts on the MR (GitLab lists only the token user's own)."""
    mr = gitlab.mr_resource(project, iid)
    return [
        DraftNote(
            id=int(d.id),
            note=str(d.attributes.get("note") or ""),
            position=position_key(d.attributes.get("position")),
            discussion_id=d.attributes.get("discussion_id") or None,
            resolve_discussion=bool(d.attributes.get("resolve_discussion")),
        )
        for d in gitlab.iterate(f"list the drafts on {project}!{iid}", mr.draft_notes.list)
    ]


def create_draft(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    body: Markdown,
    *,
    position: Position | None = None,
    reply_to: str | None = None,
    resolve: bool = False,
) -> int:
    """A draft: a new thread (on ``position``, or on no line), or a reply in ``reply_to`` that
    resolves it when ``resolve``. Sent once (see the module doc). Returns its id."""
    text = _text(body)
    data: dict[str, Any] = {"note": text}
    if position is not None:
        data["position"] = position_payload(position)
    if reply_to is not None:
        data["in_reply_to_discussion_id"] = reply_to
        data["resolve_discussion"] = resolve
    mr = gitlab.mr_resource(project, iid)

    def find() -> str | None:
        same = same_write(text)
        for draft in list_drafts(gitlab, project, iid):
            if draft.discussion_id == reply_to and same(draft.note):
                return str(draft.id)
        return None

    created = gitlab.create_once(
        f"draft a comment on {project}!{iid}",  # no path: a file name can hold a secret
        lambda: mr.draft_notes.create(data, max_retries=gitlab.retries, **ONCE).id,
        find,
    )
    return int(created)


def update_draft(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    draft_id: int,
    body: Markdown,
    position: Position | None,
) -> None:
    """Rewrite a draft: its note and its position together (a position left out is cleared)."""
    data: dict[str, Any] = {"note": _text(body)}
    if position is not None:
        data["position"] = position_payload(position)
    path = f"/projects/{_encoded(project)}/merge_requests/{iid}/draft_notes/{draft_id}"
    gitlab.call(
        f"update a draft on {project}!{iid}",
        lambda: gitlab.api.http_put(path, post_data=data, max_retries=gitlab.retries),
    )


def delete_draft(gitlab: GitLabClient, project: int | str, iid: int, draft_id: int) -> None:
    """Delete a draft; one already gone is fine."""
    path = f"/projects/{_encoded(project)}/merge_requests/{iid}/draft_notes/{draft_id}"
    try:
        gitlab.call(
            f"delete a draft on {project}!{iid}",
            lambda: gitlab.api.http_delete(path, max_retries=gitlab.retries),
        )
    except GitLabError as exc:
        if exc.status != 404:
            raise


def bulk_publish(
    gitlab: GitLabClient,
    project: int | str,
    iid: int,
    *,
    drafts: Collection[int],
    reviewer_state: str | None = None,
    summary: Markdown | None = None,
) -> None:
    """Publish every draft of the bot on the MR at once (``drafts``: the ids expected to go), with
    the bot's reviewer state and a summary comment where GitLab takes them (19.2+).

    A 4xx to the options (an instance that checks them differently) is retried without them: a
    refused request published nothing. After a lost answer the drafts are read back: gone, the
    review is published; still there, TransientError (a later retry publishes them)."""
    options: dict[str, Any] = {}
    if reviewer_state:
        options["reviewer_state"] = reviewer_state
    if summary is not None:
        options["note"] = _text(summary)
    mr = gitlab.mr_resource(project, iid)
    what = f"publish the review of {project}!{iid}"

    def find() -> str | None:
        left = {d.id for d in list_drafts(gitlab, project, iid)} & set(drafts)
        return None if left else "published"

    def send(data: dict[str, Any]) -> None:
        mr.draft_notes.bulk_publish(post_data=data, max_retries=gitlab.retries, **ONCE)

    try:
        gitlab.create_once(what, lambda: send(options), find)
    except GitLabError as exc:
        if not options or exc.status is None or not 400 <= exc.status < 500 or exc.status in (401, 403, 404):
            raise
        log.info("GitLab refused the review options of %s!%s (%s): published without them", project, iid, exc)
        gitlab.create_once(what, lambda: send({}), find)


def _text(body: Markdown) -> str:
    if not isinstance(body, Markdown):
        raise TypeError(f"a GitLab body must come from reviewer.gitlab.markdown, not {type(body).__name__}")
    return body.text


def _encoded(project: int | str) -> str:
    return quote(str(project), safe="")
