"""The stand-in's review APIs: draft notes, approvals, reviewers, members, label events, and the
notifications GitLab would send. ``GitLabStandIn`` inherits ``ReviewsApi``; its routes are listed in
``fakes.gitlab_server.ROUTES``. Nothing here imports ``reviewer``.

GitLab docs and code followed:

- Draft Notes API (doc/api/draft_notes.md, lib/api/draft_notes.rb): a draft is seen by its author
  only; ``note`` is required on create and on update, and an update without ``position`` clears the
  position (gitlab-org/gitlab#631434); one draft per author and thread
  (``validates :author_id, uniqueness: {scope: [:merge_request_id, :discussion_id]}``); a reply
  names ``in_reply_to_discussion_id``, and ``resolve_discussion`` resolves that thread on
  publishing, while a reply without it unresolves it (``DraftNotes::PublishService``).
  Publishing creates the notes through ``Notes::CreateService``, which does not save a note whose
  position is invalid: such a draft vanishes without an error. ``bulk_publish`` with no draft
  does nothing; since GitLab 19.2 (gitlab-org/gitlab!237813) it also takes ``reviewer_state``
  (``reviewed`` or ``requested_changes``) and ``note`` (a summary comment); older versions ignore
  unknown parameters, as Grape does (``review_options = False``). ``draft_notes_api = False``
  answers 404 to every draft route, as a GitLab without the API does.
- Merge request approvals API (lib/api/merge_request_approvals.rb): ``approve`` needs Developer
  access (403 otherwise), answers 409 ``SHA does not match HEAD of source branch`` when ``sha`` is
  not the head, 401 when the user already approved; ``unapprove`` answers 404 when the user had
  not approved.
- Members API ``GET /projects/:id/members/all/:user_id`` (404 for a non-member); merge request
  reviewers ``GET .../reviewers``; resource label events ``GET .../resource_label_events``.

Notifications, as GitLab e-mails them: each note or thread created outside a review is one
(``NewNoteWorker``), a published review is one however many drafts it holds
(``notification_service.new_review``), an approval is one; editing a note, resolving a thread or
publishing nothing is none.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from fakes import gitlab_rules as rules
from fakes.gitlab_http import ApiError, Json, Request, Response, _bad_request, _bool_param, normalize_position

if TYPE_CHECKING:
    from fakes.gitlab_server import Discussion, Draft, MergeRequest, Note, Project, User

DEVELOPER, MAINTAINER = 30, 40
REVIEWER_STATES = ("reviewed", "requested_changes")
_ROUTE_MISSING = ApiError(404, {"error": "404 Not Found"})


class ReviewsApi:
    """Routes and state for reviews; the host (``GitLabStandIn``) provides the lookups used here."""

    if TYPE_CHECKING:  # provided by GitLabStandIn
        _lock: threading.RLock
        _ids: Any
        _users: dict[int, User]
        url: str
        reject_positions: bool

        def _mr(self, project: int | str, iid: int | str) -> MergeRequest: ...
        def _project(self, ref: int | str) -> Project: ...
        def _now(self) -> str: ...
        def _paginate(self, request: Request, items: list[Any], max_per_page: int = 100) -> Response: ...
        def _reply(self, mr: MergeRequest, discussion: Discussion, author: User, body: str) -> Note: ...
        def _set_resolved(self, notes: list[Note], resolved: bool, user: User) -> None: ...
        def _new_discussion(
            self,
            mr: MergeRequest,
            author: User,
            body: str,
            position: Json | None,
            individual: bool = False,
            commit_id: str | None = None,
        ) -> Discussion: ...

    def _init_reviews(self) -> None:
        self.draft_notes_api = True  # False: GitLab without the Draft Notes API (404)
        self.review_options = True  # False: bulk_publish before GitLab 19.2 (note, reviewer_state ignored)
        self.notified: list[Json] = []
        self.dropped_drafts: list[Json] = []  # drafts whose note GitLab did not save on publishing

    # setting the scene (no HTTP)

    def set_access(self, project: int | str, user_id: int, level: int | None) -> None:
        """Make ``user_id`` a member of ``project`` with ``level`` (30 Developer, 40 Maintainer), or
        no member (None)."""
        with self._lock:
            members = self._project(project).members
            if level is None:
                members.pop(user_id, None)
            else:
                members[user_id] = level

    def add_reviewer(self, project: int | str, iid: int, user_id: int) -> None:
        with self._lock:
            self._mr(project, iid).reviewers.setdefault(user_id, "unreviewed")

    def set_labels(self, project: int | str, iid: int, labels: list[str], *, by: int) -> None:
        """The MR's labels become ``labels``, changed by user ``by`` (resource label events)."""
        with self._lock:
            mr, user = self._mr(project, iid), self._users[by]
            for action, names in (
                ("remove", [n for n in mr.labels if n not in labels]),
                ("add", [n for n in labels if n not in mr.labels]),
            ):
                for name in names:
                    mr.label_events.append(
                        {
                            "id": next(self._ids),
                            "user": user.entity(self._base_url()),
                            "created_at": self._now(),
                            "resource_type": "MergeRequest",
                            "resource_id": mr.id,
                            "label": {"id": sum(name.encode()) + 1000, "name": name, "color": "#dc143c"},
                            "action": action,
                        }
                    )
            mr.labels = list(labels)
            mr.updated_at = self._now()

    # reading state (no HTTP)

    def drafts(self, project: int | str, iid: int) -> list[Json]:
        """Every author's drafts on the MR, oldest first."""
        with self._lock:
            mr = self._mr(project, iid)
            return [self._draft_entity(mr, d) for d in mr.drafts]

    def notifications(self, project: int | str, iid: int, *, author_id: int | None = None) -> list[Json]:
        """The notifications GitLab would have sent about the MR (``kind``: note, review, approval)."""
        with self._lock:
            mr = self._mr(project, iid)
            return [
                dict(n)
                for n in self.notified
                if n["mr_id"] == mr.id and (author_id is None or n["author_id"] == author_id)
            ]

    def reviewer_states(self, project: int | str, iid: int) -> dict[int, str]:
        with self._lock:
            return dict(self._mr(project, iid).reviewers)

    def _notify(self, mr: MergeRequest, author: User, kind: str) -> None:
        self.notified.append({"mr_id": mr.id, "iid": mr.iid, "author_id": author.id, "kind": kind})

    def _base_url(self) -> str:
        return str(self.url)

    # routes: draft notes

    def _drafts_of(self, request: Request, p: dict[str, str]) -> tuple[MergeRequest, list[Draft]]:
        if not self.draft_notes_api:
            raise _ROUTE_MISSING
        mr = self._mr(p["project"], p["iid"])
        assert request.user is not None
        return mr, [d for d in mr.drafts if d.author.id == request.user.id]

    def _own_draft(self, request: Request, p: dict[str, str]) -> tuple[MergeRequest, Draft]:
        mr, own = self._drafts_of(request, p)
        found = next((d for d in own if str(d.id) == p["draft"]), None)
        if found is None:
            raise ApiError(404, {"message": "404 Draft Note Not Found"})
        return mr, found

    def list_drafts(self, request: Request, p: dict[str, str]) -> Response:
        mr, own = self._drafts_of(request, p)
        return self._paginate(request, [self._draft_entity(mr, d) for d in own])

    def get_draft(self, request: Request, p: dict[str, str]) -> Response:
        mr, draft = self._own_draft(request, p)
        return Response(200, self._draft_entity(mr, draft))

    def create_draft(self, request: Request, p: dict[str, str]) -> Response:
        mr, own = self._drafts_of(request, p)
        assert request.user is not None
        note = _note_param(request.params)
        reply_to = request.params.get("in_reply_to_discussion_id")
        discussion_id = None
        if reply_to:
            discussion = next((d for d in mr.discussions if d.id == str(reply_to)), None)
            if discussion is None:
                raise ApiError(400, {"message": {"base": ["Thread to reply to cannot be found"]}})
            discussion_id = discussion.id
            if any(d.discussion_id == discussion_id for d in own):
                raise ApiError(400, {"message": {"author_id": ["has already been taken"]}})
        position = _position_param(request.params)
        from fakes.gitlab_server import Draft  # a runtime import: gitlab_server imports this module

        resolve, commit = (
            bool(_bool_param(request.params, "resolve_discussion")),
            request.params.get("commit_id"),
        )
        draft = Draft(next(self._ids), request.user, note, position, discussion_id, resolve, commit or None)
        mr.drafts.append(draft)
        return Response(201, self._draft_entity(mr, draft))

    def update_draft(self, request: Request, p: dict[str, str]) -> Response:
        mr, draft = self._own_draft(request, p)
        if not str(request.params.get("note") or "").strip():
            raise ApiError(400, {"message": "400 Bad request - Missing params to modify"})
        draft.note = str(request.params["note"])
        draft.position = _position_param(request.params)  # absent: cleared, as GitLab does
        return Response(200, self._draft_entity(mr, draft))

    def delete_draft(self, request: Request, p: dict[str, str]) -> Response:
        mr, draft = self._own_draft(request, p)
        mr.drafts.remove(draft)
        return Response(204, None)

    def publish_draft(self, request: Request, p: dict[str, str]) -> Response:
        mr, draft = self._own_draft(request, p)
        assert request.user is not None
        if self._publish(mr, draft) is not None:
            self._notify(mr, request.user, "note")  # a single draft is published as a plain note
        mr.drafts.remove(draft)
        return Response(204, None)

    def bulk_publish_drafts(self, request: Request, p: dict[str, str]) -> Response:
        mr, own = self._drafts_of(request, p)
        user = request.user
        assert user is not None
        state, summary = None, None
        if self.review_options:
            state = request.params.get("reviewer_state")
            if state is not None and state not in REVIEWER_STATES:
                raise _bad_request("reviewer_state does not have a valid value")
            summary = request.params.get("note")
            summary = str(summary) if summary is not None and str(summary).strip() else None
        published = [note for draft in own if (note := self._publish(mr, draft)) is not None]
        mr.drafts = [d for d in mr.drafts if d not in own]
        if summary is not None:
            self._new_discussion(mr, user, summary, None, individual=True)
        if own or summary is not None:
            self._notify(mr, user, "review")  # one e-mail for the review, however many notes
        if user.id in mr.reviewers and (state or published):
            mr.reviewers[user.id] = state or "reviewed"
        return Response(204, None)

    def _publish(self, mr: MergeRequest, draft: Draft) -> Note | None:
        """The note a draft becomes, or None when GitLab would not save it (invalid position)."""
        if draft.discussion_id is not None:
            discussion = next((d for d in mr.discussions if d.id == draft.discussion_id), None)
            if discussion is None:
                self._drop(mr, draft, "its thread is gone")
                return None
            note = self._reply(mr, discussion, draft.author, draft.note)
            self._set_resolved(discussion.notes, draft.resolve_discussion, draft.author)
            return note
        if draft.position is not None:
            try:
                if self.reject_positions:
                    raise rules.PositionError(rules.LINE_CODE_ERROR, "reject_positions is set")
                rules.validate_position(mr.latest.files, mr.latest.refs, draft.position)
            except rules.PositionError as error:
                self._drop(mr, draft, error.reason)
                return None
        return self._new_discussion(mr, draft.author, draft.note, draft.position).notes[0]

    def _drop(self, mr: MergeRequest, draft: Draft, reason: str) -> None:
        self.dropped_drafts.append({"iid": mr.iid, "draft_id": draft.id, "reason": reason})

    def _draft_entity(self, mr: MergeRequest, draft: Draft) -> Json:
        keys = ("base_sha", "start_sha", "head_sha", "old_path", "new_path", "old_line", "new_line")
        no_position = {**dict.fromkeys(keys), "position_type": "text", "line_range": None}
        return {
            "id": draft.id,
            "author_id": draft.author.id,
            "merge_request_id": mr.id,
            "resolve_discussion": draft.resolve_discussion,
            "discussion_id": draft.discussion_id,
            "note": draft.note,
            "commit_id": draft.commit_id,
            "line_code": None,
            "position": dict(draft.position) if draft.position is not None else no_position,
        }

    # routes: approvals, reviewers, members, label events

    def _access(self, mr: MergeRequest, user: User | None) -> int:
        return mr.project.members.get(user.id, 0) if user is not None else 0

    def get_approvals(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return Response(200, self._approvals_entity(mr, request.user))

    def approve_mr(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        user = request.user
        assert user is not None
        if self._access(mr, user) < DEVELOPER:
            raise ApiError(403, {"message": "403 Forbidden"})
        sha = request.params.get("sha")
        if sha and sha != mr.latest.head:
            raise ApiError(409, {"message": f"SHA does not match HEAD of source branch: {mr.latest.head}"})
        if user.id in mr.approved_by:
            raise ApiError(401, {"message": "401 Unauthorized"})
        mr.approved_by.append(user.id)
        self._notify(mr, user, "approval")
        return Response(201, self._approvals_entity(mr, user))

    def unapprove_mr(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        user = request.user
        assert user is not None
        if self._access(mr, user) < DEVELOPER:
            raise ApiError(403, {"message": "403 Forbidden"})
        if user.id not in mr.approved_by:
            raise ApiError(404, {"message": "404 Not found"})
        mr.approved_by.remove(user.id)
        return Response(201, self._approvals_entity(mr, user))

    def _approvals_entity(self, mr: MergeRequest, user: User | None) -> Json:
        base = self._base_url()
        mine = user is not None and user.id in mr.approved_by
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": mr.project.id,
            "title": mr.title,
            "state": mr.state,
            "approved": bool(mr.approved_by),
            "user_has_approved": mine,
            "user_can_approve": not mine and self._access(mr, user) >= DEVELOPER,
            "approved_by": [{"user": self._users[uid].entity(base)} for uid in mr.approved_by],
        }

    def list_reviewers(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        base = self._base_url()
        return Response(
            200,
            [
                {"user": self._users[uid].entity(base), "state": state, "created_at": mr.created_at}
                for uid, state in mr.reviewers.items()
            ],
        )

    def get_member_all(self, _: Request, p: dict[str, str]) -> Response:
        project = self._project(p["project"])
        user_id = int(p["user"]) if p["user"].isdigit() else 0
        level = project.members.get(user_id)
        if level is None or user_id not in self._users:
            raise ApiError(404, {"message": "404 Not found"})
        return Response(
            200,
            {
                **self._users[user_id].entity(self._base_url()),
                "access_level": level,
                "created_at": self._now(),
                "expires_at": None,
                "membership_state": "active",
            },
        )

    def list_label_events(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return self._paginate(request, [dict(e) for e in mr.label_events])


def _note_param(params: Json) -> str:
    note = params.get("note")
    if note is None:
        raise _bad_request("note is missing")
    if not str(note).strip():
        raise ApiError(400, {"message": '400 Bad request - Note {:note=>["can\'t be blank"]}'})
    return str(note)


def _position_param(params: Json) -> Json | None:
    """The ``position`` hash as Grape checks it (the SHAs and ``position_type`` required), stored
    as GitLab returns it; None when absent."""
    position = params.get("position")
    if position is None:
        return None
    if not isinstance(position, dict):
        raise _bad_request("position is invalid")
    missing = [
        f"position[{key}] is missing"
        for key in ("base_sha", "start_sha", "head_sha", "position_type")
        if not position.get(key)
    ]
    if missing:
        raise _bad_request(", ".join(missing))
    if position["position_type"] not in ("text", "image", "file"):
        raise _bad_request("position[position_type] does not have a valid value")
    return normalize_position(position)
