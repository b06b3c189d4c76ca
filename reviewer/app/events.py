"""GitLab webhook events, classified: what deserves a review or an answer, and what is
acknowledged and ignored.

Follows GitLab's webhook events page (merge request, comment and emoji events) and its notes:
``oldrev`` is present only when code changed; a draft-to-ready switch shows in ``changes.draft``;
system hooks send merge request events under ``X-Gitlab-Event: System Hook``; comment events fire
for edits too (``object_attributes.action``: ``create`` or ``update``, GitLab 16.11+); a comment
in a thread carries its ``discussion_id`` and ``type`` (``DiffNote`` in a diff thread, with the
thread's ``position``); an emoji event names the note it is on (``awardable_type: Note``,
``awardable_id``) and carries the note and the merge request.

People's notes go to the conversation task (``reviewer.app.conversations``) with ids only: a note
with a ``/ai-review`` line, or a note in a thread (maybe one of the bot's, maybe a question); the
worker reads the note itself from GitLab. Thumbs up and down on a note go there too, as feedback.

Every value of a payload is untrusted and may have any JSON type, any size and any nesting depth:
nothing here calls ``str()`` on a payload value (a deeply nested list would recurse), ids must be
plain positive integers and head SHAs short hex strings, and the command pattern runs in linear time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Horizontal whitespace only: ``\s*`` at a line start spans newlines, which makes a note of many
# blank lines take quadratic time (a 10 MB note would stall the intake for hours).
REVIEW_COMMAND = re.compile(r"^[ \t]*/ai-review(?:[ \t]+(?P<args>[^\n]*))?[ \t\r]*$", re.M)
MAX_ID = 2**63 - 1  # GitLab's ids are bigints
MAX_SHOWN = 40

_MR_EVENTS = {"Merge Request Hook", "System Hook"}
_NOTE_EVENTS = {"Note Hook", "Confidential Note Hook"}
_EMOJI_EVENTS = {"Emoji Hook"}
_THREAD_NOTES = {"DiffNote", "DiscussionNote"}
FEEDBACK_EMOJI = frozenset({"thumbsup", "thumbsdown"})
BOT_MARKER = "<!-- ai-review "  # every note the bot writes in a thread carries one (reviewer.gitlab.markers)
NOTE, REACTION = "note", "reaction"  # the triggers the conversation task takes


@dataclass(frozen=True, slots=True)
class ReviewJob:
    """What a worker needs to review one MR, or to answer a note on it: ids only, never the payload."""

    project_id: int
    iid: int
    # "opened", "pushed", "ready", "reopened", "labeled" (reviews); "note", "reaction" (conversations,
    # which may ask for a review: "command", or "override" for `/ai-review override <reason>`)
    trigger: str
    head_sha: str | None = None
    requested_by: int | None = None  # who wrote the note, or reacted
    note_id: int | None = None  # the note written, or reacted to (the worker reads it from GitLab)
    discussion_id: str | None = None  # the thread it is in


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


def classify(event_header: str | None, payload: Mapping[str, Any]) -> ReviewJob | Ignored:
    """Turn one delivery into a review job or a reasoned ignore. Never raises on odd shapes."""
    kind = payload.get("object_kind") if isinstance(payload, Mapping) else None
    if kind == "merge_request" and (event_header in _MR_EVENTS or event_header is None):
        return _merge_request(payload)
    if kind == "note" and (event_header in _NOTE_EVENTS or event_header is None):
        return _note(payload)
    if kind == "emoji" and (event_header in _EMOJI_EVENTS or event_header is None):
        return _emoji(payload)
    return Ignored(f"event {_shown(event_header)} / {_shown(kind)} is not reviewed")


def _merge_request(payload: Mapping[str, Any]) -> ReviewJob | Ignored:
    attrs = _mapping(payload.get("object_attributes"))
    project_id = _int(_mapping(payload.get("project")).get("id")) or _int(attrs.get("target_project_id"))
    iid = _int(attrs.get("iid"))
    if project_id is None or iid is None:
        return Ignored("merge request event without project id or iid")
    state = attrs.get("state")
    if state in ("closed", "merged", "locked"):
        return Ignored(f"merge request is {state}")
    action = attrs.get("action")
    head = _sha(_mapping(attrs.get("last_commit")).get("id"))
    changes = _mapping(payload.get("changes"))
    if action == "open":
        trigger = "opened"
    elif action == "reopen":
        trigger = "reopened"
    elif action == "update" and attrs.get("oldrev"):
        trigger = "pushed"
    elif action == "update" and _mapping(changes.get("draft")).get("current") is False:
        trigger = "ready"
    elif action == "update" and "labels" in changes:  # the break-glass label may have come or gone
        trigger = "labeled"
    else:
        return Ignored(f"merge request action {_shown(action)} needs no review")
    return ReviewJob(project_id=project_id, iid=iid, trigger=trigger, head_sha=head)


def _note(payload: Mapping[str, Any]) -> ReviewJob | Ignored:
    attrs = _mapping(payload.get("object_attributes"))
    if attrs.get("noteable_type") != "MergeRequest":
        return Ignored(f"comment on a {_shown(attrs.get('noteable_type'))} is not a review request")
    if attrs.get("system") is True:
        return Ignored("a system note is no request")
    if attrs.get("action", "create") != "create":
        return Ignored("an edited comment is no new request")
    note = attrs.get("note")
    if isinstance(note, str) and BOT_MARKER in note:
        return Ignored("the bot's own note")  # the worker would find its author is the bot
    command = isinstance(note, str) and REVIEW_COMMAND.search(note) is not None
    discussion = _discussion_id(attrs.get("discussion_id"))
    if not command and not (discussion and attrs.get("type") in _THREAD_NOTES):
        return Ignored("comment without the /ai-review command, outside a thread")
    mr = _mapping(payload.get("merge_request"))
    project_id = _int(_mapping(payload.get("project")).get("id")) or _int(attrs.get("project_id"))
    iid, note_id = _int(mr.get("iid")), _int(attrs.get("id"))
    if project_id is None or iid is None or note_id is None:
        return Ignored("comment event without project id, merge request iid or note id")
    if mr.get("state") in ("closed", "merged", "locked"):
        return Ignored(f"merge request is {mr.get('state')}")
    return ReviewJob(
        project_id=project_id,
        iid=iid,
        trigger=NOTE,
        head_sha=_sha(_mapping(mr.get("last_commit")).get("id")),
        requested_by=_int(attrs.get("author_id")) or _int(_mapping(payload.get("user")).get("id")),
        note_id=note_id,
        discussion_id=discussion,
    )


def _emoji(payload: Mapping[str, Any]) -> ReviewJob | Ignored:
    """Thumbs up or down on a comment of a merge request: feedback, if the comment is the bot's."""
    attrs = _mapping(payload.get("object_attributes"))
    note = _mapping(payload.get("note"))
    if attrs.get("awardable_type") != "Note" or note.get("noteable_type") != "MergeRequest":
        return Ignored("a reaction outside a merge request's comments is no feedback")
    if attrs.get("name") not in FEEDBACK_EMOJI:
        return Ignored("only thumbs up and down are feedback")
    body = note.get("note")
    if not isinstance(body, str) or "<!-- ai-review fp=" not in body:
        return Ignored("a reaction to a comment that holds no finding of the bot's")
    mr = _mapping(payload.get("merge_request"))
    project_id = _int(_mapping(payload.get("project")).get("id")) or _int(payload.get("project_id"))
    iid, note_id = _int(mr.get("iid")), _int(attrs.get("awardable_id"))
    user = _int(attrs.get("user_id")) or _int(_mapping(payload.get("user")).get("id"))
    if project_id is None or iid is None or note_id is None or user is None:
        return Ignored("emoji event without project id, merge request iid, note id or user")
    return ReviewJob(
        project_id=project_id,
        iid=iid,
        trigger=REACTION,
        requested_by=user,
        note_id=note_id,
        discussion_id=_discussion_id(note.get("discussion_id")),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    """A GitLab id: a positive integer, or its decimal string (ASCII digits only: ``"²".isdigit()``
    is true and ``int("²")`` raises)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def _sha(value: Any) -> str | None:
    """A commit SHA (or an abbreviation of one), else None."""
    if isinstance(value, str) and 0 < len(value) <= 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return value
    return None


def _discussion_id(value: Any) -> str | None:
    """A thread's id: GitLab's are 40 hex characters."""
    return value if isinstance(value, str) and _sha(value) is not None else None


def _shown(value: Any) -> str:
    """A payload value as it may appear in a reason: a short string, else just its type."""
    if isinstance(value, str) and value:
        return repr(value[:MAX_SHOWN]) if len(value) > MAX_SHOWN or not value.isprintable() else value
    return "none" if value is None or value == "" else type(value).__name__
