"""Break glass: a Maintainer turns the bot's blocking verdict into a recorded override, with the
team's label (default ``ai-review::override``) or a note ``/ai-review override <reason>``.

Who did it is read from GitLab, never taken from the webhook: the note itself (Notes API), and for
the label the latest event that added it (resource label events API); their access level comes
from the Members API (``reviewer.gitlab.members``). Anyone below Maintainer is refused, and the
summary says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reviewer.errors import GitLabError
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.members import MAINTAINER, access_level, role_name
from reviewer.review.verdict import Override

__all__ = ["Refusal", "command_override", "label_override", "override_reason"]

# the first "/ai-review override ..." line; horizontal whitespace only (linear time on any note)
_COMMAND = re.compile(r"^[ \t]*/ai-review[ \t]+override(?:[ \t]+(?P<reason>[^\n]*))?[ \t\r]*$", re.M)
MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class Refusal:
    """An override that was asked for and not applied, and why (shown in the summary)."""

    by: str
    why: str


def override_reason(note: str) -> str | None:
    """The reason of the note's ``/ai-review override <reason>`` ("" when none is given), or None
    when the note holds no such line."""
    match = _COMMAND.search(note)
    if match is None:
        return None
    return " ".join((match.group("reason") or "").split())[:MAX_REASON]


def command_override(
    gitlab: GitLabClient, project: int | str, iid: int, note_id: int, blocking: Sequence[str]
) -> Override | Refusal:
    """The override a note asks for, covering the ``blocking`` findings, if its author may."""
    mr = gitlab.mr_resource(project, iid)
    note = gitlab.call(
        f"read a note of {project}!{iid}", lambda: mr.notes.get(note_id, max_retries=gitlab.retries)
    )
    author = note.attributes.get("author") or {}
    username = str(author.get("username") or "someone")
    reason = override_reason(str(note.attributes.get("body") or ""))
    if reason is None:
        return Refusal(username, "the note holds no `/ai-review override` line")
    if not reason:
        return Refusal(username, "an override needs a reason: `/ai-review override <reason>`")
    refused = _refused(gitlab, project, author.get("id"), username)
    return refused or Override(username, reason, "command", tuple(blocking))


def label_override(
    gitlab: GitLabClient, project: int | str, iid: int, label: str, labels: Sequence[str]
) -> Override | Refusal | None:
    """The override the team's label makes, if the MR has it and whoever added it may; None when
    the label is not on the MR."""
    if label not in labels:
        return None
    mr = gitlab.mr_resource(project, iid)
    added = [
        e.attributes
        for e in gitlab.iterate(f"list label events of {project}!{iid}", mr.resourcelabelevents.list)
        if e.attributes.get("action") == "add" and (e.attributes.get("label") or {}).get("name") == label
    ]
    if not added:
        return Refusal("someone", "GitLab does not say who added the label")
    user = added[-1].get("user") or {}
    username = str(user.get("username") or "someone")
    refused = _refused(gitlab, project, user.get("id"), username)
    return refused or Override(username, label, "label")


def _refused(gitlab: GitLabClient, project: int | str, user_id: object, username: str) -> Refusal | None:
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return Refusal(username, "GitLab does not say who it is")
    try:
        level = access_level(gitlab, project, user_id)
    except GitLabError as exc:
        return Refusal(username, f"their role could not be read ({exc.status or 'no answer'})")
    if level < MAINTAINER:
        return Refusal(username, f"only Maintainers may override; {username} is {_article(role_name(level))}")
    return None


def _article(role: str) -> str:
    return role if role == "no member" else f"{'an' if role[0] in 'AEIOU' else 'a'} {role}"
