"""The stand-in's people: project members (direct and inherited) and emoji reactions on notes.

Mixed into ``GitLabStandIn``; follows these GitLab docs:

- Group and project members API (doc/api/members.md): ``GET /projects/:id/members/:user_id``
  (direct members only; ``GET /projects/:id/members/all/:user_id``, inherited ones included, is
  served by ``fakes.gitlab_reviews``), ``404 {"message": "404 Member Not Found"}`` for anyone else.
  ``access_level``: 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.
- Emoji reactions API (doc/api/emoji_reactions.md, "Add reactions to comments"):
  ``GET|POST /projects/:id/merge_requests/:iid/notes/:note_id/award_emoji`` (``name`` without
  colons) and ``DELETE .../award_emoji/:award_id`` (only the author of the reaction). A second
  reaction of the same name by the same user answers ``404 Award Emoji Name has already been
  taken``, an unknown name ``404 Award Emoji Name is not a valid emoji name``, as GitLab does.

Set the scene without HTTP: ``add_member``, ``add_award`` (a person's reaction), ``resolve_as``
(a person resolving a thread).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import fakes.gitlab_server as core

if TYPE_CHECKING:
    import threading

    from fakes.gitlab_server import Discussion, MergeRequest, Note, Project, Request, Response, User

Json = dict[str, Any]

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
# A few of GitLab's emoji names (the real list has thousands): what people react with on reviews.
EMOJI_NAMES = frozenset(
    {"thumbsup", "thumbsdown", "eyes", "white_check_mark", "x", "tada", "rocket", "heart", "confused"}
)
_AWARD_IDS = itertools.count(9001)

_MR = "projects/:project/merge_requests/:iid"
PEOPLE_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "projects/:project/members/:user", "get_direct_member"),
    ("GET", f"{_MR}/notes/:note/award_emoji", "list_note_awards"),
    ("POST", f"{_MR}/notes/:note/award_emoji", "create_note_award"),
    ("DELETE", f"{_MR}/notes/:note/award_emoji/:award", "delete_note_award"),
]


class PeopleMixin:
    _inherited: set[tuple[int, int]]  # (project, user): a member through an ancestor group only
    _awards: list[Json]

    if TYPE_CHECKING:  # provided by GitLabStandIn
        _lock: threading.RLock
        _users: dict[int, User]
        url: str

        def _project(self, ref: int | str) -> Project: ...
        def _mr(self, project: int | str, iid: int | str) -> MergeRequest: ...
        def _note(self, mr: MergeRequest, note_id: str, discussion: Discussion | None = None) -> Note: ...
        def _discussion(self, mr: MergeRequest, discussion_id: str) -> Discussion: ...
        def _now(self) -> str: ...
        def _set_resolved(self, notes: list[Note], resolved: bool, user: User) -> None: ...
        def _paginate(self, request: Request, items: list[Any], max_per_page: int = 100) -> Response: ...

    # setting the scene (no HTTP)

    def add_member(
        self, project: int | str, user_id: int, access_level: int, *, inherited: bool = False
    ) -> None:
        """Make a user a member of the project, directly or through an ancestor group."""
        with self._lock:
            found = self._project(project)
            found.members[user_id] = access_level  # the store the reviews' members route reads
            if inherited:
                self._inherited.add((found.id, user_id))
            else:
                self._inherited.discard((found.id, user_id))

    def add_award(self, project: int | str, iid: int, note_id: int, name: str, user_id: int) -> Json:
        """A person reacts to a note with an emoji; returns the award entity."""
        with self._lock:
            mr = self._mr(project, iid)
            note = self._note(mr, str(note_id))
            return self._award(mr, note, name, self._users[user_id])

    def remove_award(self, project: int | str, iid: int, award_id: int) -> None:
        with self._lock:
            mr = self._mr(project, iid)
            self._awards = [
                a for a in self._awards if not (a["id"] == award_id and a["project_id"] == mr.project.id)
            ]

    def awards(self, project: int | str, iid: int, note_id: int) -> list[Json]:
        """The reactions on a note, as the API lists them."""
        with self._lock:
            mr = self._mr(project, iid)
            return [self._award_entity(a) for a in self._note_awards(mr, note_id)]

    def resolve_as(self, project: int | str, iid: int, discussion_id: str, user_id: int) -> None:
        """A person resolves a thread (as the Resolve button does)."""
        with self._lock:
            mr = self._mr(project, iid)
            discussion = self._discussion(mr, discussion_id)
            self._set_resolved(discussion.notes, True, self._users[user_id])

    # routes: members

    def get_direct_member(self, _: Request, p: dict[str, str]) -> Response:
        """Direct members only (``members/all/:user``, with the inherited ones, is ReviewsApi's)."""
        project = self._project(p["project"])
        if not p["user"].isdigit():
            raise core.ApiError(400, {"error": "user_id is invalid"})
        level = project.members.get(int(p["user"]))
        if level is None or (project.id, int(p["user"])) in self._inherited:
            raise core.ApiError(404, {"message": "404 Member Not Found"})
        user = self._users[int(p["user"])]
        entity = {
            **user.entity(self.url),
            "access_level": level,
            "created_at": core.T0.isoformat(),
            "expires_at": None,
            "membership_state": "active",
        }
        return core.Response(200, entity)

    # routes: emoji reactions on notes

    def list_note_awards(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        note = self._note(mr, p["note"])
        return self._paginate(request, [self._award_entity(a) for a in self._note_awards(mr, note.id)])

    def create_note_award(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        note = self._note(mr, p["note"])
        name = request.params.get("name")
        if not name:
            raise core.ApiError(400, {"error": "name is missing"})
        assert request.user is not None
        return core.Response(201, self._award(mr, note, str(name), request.user))

    def delete_note_award(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        note = self._note(mr, p["note"])
        award = next((a for a in self._note_awards(mr, note.id) if str(a["id"]) == p["award"]), None)
        if award is None:
            raise core.ApiError(404, {"message": "404 Award Emoji Not Found"})
        assert request.user is not None
        if award["user_id"] != request.user.id and not request.user.admin:
            raise core.ApiError(403, {"message": "403 Forbidden"})
        self._awards.remove(award)
        return core.Response(204, None)

    # internals

    def _award(self, mr: MergeRequest, note: Note, name: str, user: User) -> Json:
        if name not in EMOJI_NAMES:
            raise core.ApiError(404, {"message": "404 Award Emoji Name is not a valid emoji name Not Found"})
        if any(a["name"] == name and a["user_id"] == user.id for a in self._note_awards(mr, note.id)):
            raise core.ApiError(404, {"message": "404 Award Emoji Name has already been taken Not Found"})
        now = self._now()
        award = {
            "id": next(_AWARD_IDS),
            "name": name,
            "user_id": user.id,
            "note_id": note.id,
            "project_id": mr.project.id,
            "created_at": now,
        }
        self._awards.append(award)
        return self._award_entity(award)

    def _note_awards(self, mr: MergeRequest, note_id: int) -> list[Json]:
        return [a for a in self._awards if a["project_id"] == mr.project.id and a["note_id"] == note_id]

    def _award_entity(self, award: Json) -> Json:
        return {
            "id": award["id"],
            "name": award["name"],
            "user": self._users[award["user_id"]].entity(self.url),
            "created_at": award["created_at"],
            "updated_at": award["created_at"],
            "awardable_id": award["note_id"],
            "awardable_type": "Note",
            "url": None,
        }
