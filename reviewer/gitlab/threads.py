"""One merge request thread as the bot reads it when someone writes in it: its notes (author,
text, system or not) and, for a diff thread, where it sits.

Follows "Discussions API" (doc/api/discussions.md): ``GET /projects/:id/merge_requests/:iid/
discussions/:discussion_id`` lists the thread's notes in order; a reply in a diff thread carries
the thread's ``position``. A standalone comment is a thread of one note (``individual_note``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gitlab

from reviewer.errors import GitLabError
from reviewer.gitlab.api import guarded
from reviewer.review.findings import Side


@dataclass(frozen=True, slots=True)
class ThreadNote:
    id: int
    author_id: int | None
    body: str
    system: bool = False


@dataclass(frozen=True, slots=True)
class Thread:
    id: str
    notes: tuple[ThreadNote, ...]
    resolved: bool = False
    resolvable: bool = False
    path: str | None = None  # a diff thread's file (the old path for a removed line)
    line: int | None = None
    side: Side = Side.NEW

    def note(self, note_id: int) -> ThreadNote | None:
        return next((n for n in self.notes if n.id == note_id), None)

    @property
    def first(self) -> ThreadNote:
        return self.notes[0]


class Threads:
    def __init__(self, gl: gitlab.Gitlab, *, retries: int = 3) -> None:
        self._gl = gl
        self._retries = retries

    def get(self, project: int | str, iid: int, discussion_id: str) -> Thread | None:
        """The thread, or None when GitLab has no such thread on the MR (deleted meanwhile)."""
        mr = self._gl.projects.get(project, lazy=True).mergerequests.get(iid, lazy=True)
        try:
            discussion: Any = guarded(
                f"read a thread of {project}!{iid}",
                lambda: mr.discussions.get(discussion_id, max_retries=self._retries),
            )
        except GitLabError as exc:
            if exc.status == 404:
                return None
            raise
        return thread_of(str(discussion.id), discussion.attributes.get("notes") or [])

    def containing(self, project: int | str, iid: int, note_id: int) -> Thread | None:
        """The thread a note belongs to, found by listing the MR's threads (for an event that
        does not name it)."""
        mr = self._gl.projects.get(project, lazy=True).mergerequests.get(iid, lazy=True)
        listing: list[Any] = guarded(
            f"list threads of {project}!{iid}",
            lambda: list(mr.discussions.list(iterator=True, max_retries=self._retries)),
        )
        for discussion in listing:
            notes = discussion.attributes.get("notes") or []
            if any(isinstance(n, Mapping) and n.get("id") == note_id for n in notes):
                return thread_of(str(discussion.id), notes)
        return None


def thread_of(discussion_id: str, notes: list[Any]) -> Thread | None:
    """A discussion's notes, as the Discussions API lists them, as a Thread (None when empty)."""
    kept = tuple(_note(n) for n in notes if isinstance(n, Mapping) and isinstance(n.get("id"), int))
    if not kept:
        return None
    first: Mapping[str, Any] = next(n for n in notes if isinstance(n, Mapping))
    position = _mapping(first.get("position"))
    only_old = position.get("old_line") is not None and position.get("new_line") is None
    line = position.get("old_line") if only_old else position.get("new_line")
    return Thread(
        id=discussion_id,
        notes=kept,
        resolved=bool(first.get("resolved")),
        resolvable=bool(first.get("resolvable")),
        path=(position.get("old_path") if only_old else position.get("new_path")) or None,
        line=line if isinstance(line, int) else None,
        side=Side.OLD if only_old else Side.NEW,
    )


def _note(note: Mapping[str, Any]) -> ThreadNote:
    author_id = _mapping(note.get("author")).get("id")
    body = note.get("body")
    return ThreadNote(
        id=int(note["id"]),
        author_id=author_id if isinstance(author_id, int) else None,
        body=body if isinstance(body, str) else "",
        system=bool(note.get("system")),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
