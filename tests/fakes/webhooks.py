"""Webhook deliveries shaped like GitLab's, built from a GitLabStandIn's state.

Follows "Webhook events" (doc/user/project/integrations/webhook_events.md: "Merge request
events", "Comment on a merge request", "Emoji events") and "Webhooks" (delivery headers): ``X-Gitlab-Event``,
``X-Gitlab-Token`` (only when the hook has a secret token), ``X-Gitlab-Instance``,
``X-Gitlab-Webhook-UUID`` (one per hook), ``X-Gitlab-Event-UUID`` (one per event, shared by
recursive hooks), ``Idempotency-Key`` (GitLab 17.4+, the same across retries of one delivery:
send the same headers and payload again to model a retry) and ``User-Agent: GitLab/<version>``.

``object_attributes.oldrev`` is present only when code changed (pass ``oldrev``); a draft to
ready switch shows as ``changes.draft`` (pass ``changes``). ``note_hook`` creates the comment in
the stand-in first, and ``emoji_hook`` the reaction, as GitLab fires a hook only for what exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fakes.gitlab_server import GitLabStandIn

GITLAB_VERSION = "17.6.1"
MR_ACTIONS = (
    "open",
    "close",
    "reopen",
    "update",
    "approved",
    "unapproved",
    "approval",
    "unapproval",
    "merge",
)
STATE_OF_ACTION = {"close": "closed", "merge": "merged"}

Json = dict[str, Any]
Delivery = tuple[dict[str, str], Json]


def delivery_headers(
    standin: GitLabStandIn, event: str, project_id: int, secret: str | None
) -> dict[str, str]:
    """The headers of one delivery of ``event`` (e.g. ``"Merge Request Hook"``)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"GitLab/{GITLAB_VERSION}",
        "X-Gitlab-Event": event,
        "X-Gitlab-Instance": standin.url,
        "X-Gitlab-Webhook-UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{standin.url}/hooks/{project_id}")),
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    if secret is not None:
        headers["X-Gitlab-Token"] = secret
    return headers


def merge_request_hook(
    standin: GitLabStandIn,
    project: int | str,
    iid: int,
    action: str = "open",
    oldrev: str | None = None,
    changes: Json | None = None,
    *,
    secret: str | None = "webhook-secret",
    user_id: int | None = None,
) -> Delivery:
    """A "Merge Request Hook" delivery for the MR as the stand-in has it now."""
    if action not in MR_ACTIONS:
        raise ValueError(f"unknown merge request action {action!r}")
    mr = standin.mr(project, iid)
    proj = standin.project(project)
    user = standin.user(user_id) if user_id is not None else mr["author"]
    attributes = _mr_attributes(standin, proj, mr, _iso_time)
    attributes.update(action=action, state=STATE_OF_ACTION.get(action, mr["state"]))
    if oldrev is not None:
        attributes["oldrev"] = oldrev
    payload = {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": _hook_user(user),
        "project": _hook_project(proj),
        "object_attributes": attributes,
        "labels": [],
        "changes": changes or {},
        "repository": _hook_repository(proj),
        "assignees": [],
        "reviewers": [],
    }
    return delivery_headers(standin, "Merge Request Hook", proj["id"], secret), payload


def note_hook(
    standin: GitLabStandIn,
    project: int | str,
    iid: int,
    body: str,
    author: int | None = None,
    *,
    secret: str | None = "webhook-secret",
    discussion_id: str | None = None,
    system: bool = False,
) -> Delivery:
    """Comment ``body`` on the MR as user ``author`` (a person by default), then its "Note Hook".
    In a thread (``discussion_id``) the note carries the thread's ``discussion_id``, ``type`` and,
    in a diff thread, its ``position``; ``system`` makes it a note GitLab writes itself."""
    note = standin.add_note(project, iid, body, author_id=author, discussion_id=discussion_id, system=system)
    mr = standin.mr(project, iid)
    proj = standin.project(project)
    attributes = {
        "id": note["id"],
        "note": note["body"],
        "noteable_type": "MergeRequest",
        "author_id": note["author"]["id"],
        "created_at": _hook_time(note["created_at"]),
        "updated_at": _hook_time(note["updated_at"]),
        "project_id": proj["id"],
        "attachment": None,
        "line_code": None,
        "commit_id": "",
        "noteable_id": mr["id"],
        "system": note["system"],
        "st_diff": None,
        "type": note["type"],
        "position": note.get("position"),
        "discussion_id": standin.discussion_id_of(project, iid, note["id"]),
        "action": "create",
        "url": f"{mr['web_url']}#note_{note['id']}",
    }
    merge_request = _mr_attributes(standin, proj, mr, _hook_time)
    payload = {
        "object_kind": "note",
        "event_type": "note",
        "user": _hook_user(note["author"]),
        "project_id": proj["id"],
        "project": _hook_project(proj),
        "repository": _hook_repository(proj),
        "object_attributes": attributes,
        "merge_request": merge_request,
    }
    return delivery_headers(standin, "Note Hook", proj["id"], secret), payload


def emoji_hook(
    standin: GitLabStandIn,
    project: int | str,
    iid: int,
    note_id: int,
    name: str,
    user: int,
    *,
    action: str = "award",
    secret: str | None = "webhook-secret",
) -> Delivery:
    """User ``user`` reacts to a note of the MR with ``name`` (``action="revoke"``: takes their
    reaction back), then its "Emoji Hook" ("Emoji events": ``object_attributes`` is the award,
    ``note`` the comment, ``merge_request`` the MR the comment is on)."""
    if action == "award":
        award = standin.add_award(project, iid, note_id, name, user)
    elif action == "revoke":
        mine = [a for a in standin.awards(project, iid, note_id) if a["user"]["id"] == user]
        award = next(a for a in mine if a["name"] == name)
        standin.remove_award(project, iid, award["id"])
    else:
        raise ValueError(f"unknown emoji action {action!r}")
    mr = standin.mr(project, iid)
    proj = standin.project(project)
    note = next(n for n in standin.notes(project, iid) if n["id"] == note_id)
    url = f"{mr['web_url']}#note_{note_id}"
    payload = {
        "object_kind": "emoji",
        "event_type": action,
        "user": _hook_user(standin.user(user)),
        "project_id": proj["id"],
        "project": _hook_project(proj),
        "object_attributes": {
            "user_id": user,
            "created_at": _hook_time(award["created_at"]),
            "id": award["id"],
            "name": name,
            "awardable_type": "Note",
            "awardable_id": note_id,
            "updated_at": _hook_time(award["updated_at"]),
            "action": action,
            "awarded_on_url": url,
        },
        "note": {
            "attachment": None,
            "author_id": note["author"]["id"],
            "change_position": None,
            "commit_id": note.get("commit_id"),
            "created_at": _hook_time(note["created_at"]),
            "discussion_id": standin.discussion_id_of(project, iid, note_id),
            "id": note_id,
            "line_code": None,
            "note": note["body"],
            "noteable_id": mr["id"],
            "noteable_type": "MergeRequest",
            "original_position": note.get("position"),
            "position": note.get("position"),
            "project_id": proj["id"],
            "resolved_at": note.get("resolved_at"),
            "resolved_by_id": (note.get("resolved_by") or {}).get("id"),
            "resolved_by_push": None,
            "st_diff": None,
            "system": note["system"],
            "type": note["type"],
            "updated_at": _hook_time(note["updated_at"]),
            "updated_by_id": None,
            "description": note["body"],
            "url": url,
        },
        "merge_request": _mr_attributes(standin, proj, mr, _hook_time),
    }
    return delivery_headers(standin, "Emoji Hook", proj["id"], secret), payload


def _mr_attributes(standin: GitLabStandIn, proj: Json, mr: Json, when: Callable[[str], str]) -> Json:
    commit = standin.commit(proj["id"], mr["sha"])
    return {
        "id": mr["id"],
        "iid": mr["iid"],
        "target_branch": mr["target_branch"],
        "source_branch": mr["source_branch"],
        "source_project_id": mr["source_project_id"],
        "target_project_id": mr["target_project_id"],
        "author_id": mr["author"]["id"],
        "assignee_ids": [],
        "assignee_id": None,
        "reviewer_ids": [],
        "title": mr["title"],
        "description": mr["description"],
        "created_at": when(mr["created_at"]),
        "updated_at": when(mr["updated_at"]),
        "last_edited_at": None,
        "last_edited_by_id": None,
        "milestone_id": None,
        "state_id": {"opened": 1, "closed": 2, "merged": 3}.get(mr["state"], 1),
        "state": mr["state"],
        "blocking_discussions_resolved": mr["blocking_discussions_resolved"],
        "work_in_progress": mr["draft"],
        "draft": mr["draft"],
        "first_contribution": False,
        "merge_status": mr["merge_status"],
        "detailed_merge_status": mr["detailed_merge_status"],
        "merge_commit_sha": None,
        "head_pipeline_id": None,
        "url": mr["web_url"],
        "source": _hook_project(proj),
        "target": _hook_project(proj),
        "last_commit": {
            "id": commit["id"],
            "message": commit["message"],
            "title": commit["title"],
            "timestamp": commit["authored_date"],
            "url": f"{proj['web_url']}/-/commit/{commit['id']}",
            "author": {"name": commit["author_name"], "email": commit["author_email"]},
        },
        "labels": [],
        "total_time_spent": 0,
        "time_change": 0,
        "human_total_time_spent": None,
        "human_time_change": None,
        "human_time_estimate": None,
    }


def _hook_user(user: Json) -> Json:
    return {
        "id": user["id"],
        "name": user["name"],
        "username": user["username"],
        "avatar_url": user.get("avatar_url"),
        "email": "[REDACTED]",
    }


def _hook_project(proj: Json) -> Json:
    web = proj["web_url"]
    return {
        "id": proj["id"],
        "name": proj["name"],
        "description": proj["description"],
        "web_url": web,
        "avatar_url": None,
        "git_ssh_url": proj["ssh_url_to_repo"],
        "git_http_url": proj["http_url_to_repo"],
        "namespace": proj["namespace"]["name"],
        "visibility_level": 0,
        "path_with_namespace": proj["path_with_namespace"],
        "default_branch": proj["default_branch"],
        "ci_config_path": None,
        "homepage": web,
        "url": proj["http_url_to_repo"],
        "ssh_url": proj["ssh_url_to_repo"],
        "http_url": proj["http_url_to_repo"],
    }


def _hook_repository(proj: Json) -> Json:
    return {
        "name": proj["name"],
        "url": proj["http_url_to_repo"],
        "description": proj["description"],
        "homepage": proj["web_url"],
    }


def _iso_time(api_time: str) -> str:
    """Merge request hooks print ``2013-12-03T17:23:34Z``."""
    return api_time.split(".")[0].rstrip("Z") + "Z"


def _hook_time(api_time: str) -> str:
    """Note hooks print ``2015-05-17 18:21:36 UTC`` where the API prints ISO 8601."""
    return api_time.replace("T", " ").split(".")[0].rstrip("Z") + " UTC"
