"""Emoji reactions on merge request notes: the bot's acknowledgement of a command, and people's
thumbs up or down on the bot's comments.

Follows "Emoji reactions API" (doc/api/emoji_reactions.md, "Add reactions to comments"):
``GET`` and ``POST /projects/:id/merge_requests/:iid/notes/:note_id/award_emoji`` (``name``
without colons). GitLab keeps one reaction of a name per user and note: a second one answers
``404 Award Emoji Name has already been taken``, which here means done. That makes adding a
reaction safe to repeat, so it goes with python-gitlab's usual transient retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gitlab

from reviewer.errors import GitLabError
from reviewer.gitlab.api import guarded

ALREADY_THERE = "has already been taken"
THUMBS_UP, THUMBS_DOWN = "thumbsup", "thumbsdown"


@dataclass(frozen=True, slots=True)
class Reaction:
    user_id: int
    name: str


class Reactions:
    def __init__(self, gl: gitlab.Gitlab, *, retries: int = 3) -> None:
        self._gl = gl
        self._retries = retries

    def add(self, project: int | str, iid: int, note_id: int, name: str) -> None:
        """React to a note with ``name`` as the bot; a reaction already there is left as it is."""
        note = self._note(project, iid, note_id)
        try:
            guarded(
                f"react to a note of {project}!{iid}",
                lambda: note.awardemojis.create({"name": name}, max_retries=self._retries),
            )
        except GitLabError as exc:
            if exc.status != 404 or ALREADY_THERE not in str(exc):
                raise

    def on_note(self, project: int | str, iid: int, note_id: int) -> list[Reaction]:
        """Every reaction on a note, whoever gave it."""
        note = self._note(project, iid, note_id)
        listed: list[Any] = guarded(
            f"list the reactions on a note of {project}!{iid}",
            lambda: list(note.awardemojis.list(iterator=True, max_retries=self._retries)),
        )
        found = []
        for award in listed:
            user = award.attributes.get("user") or {}
            if isinstance(user.get("id"), int) and isinstance(award.attributes.get("name"), str):
                found.append(Reaction(user["id"], award.attributes["name"]))
        return found

    def _note(self, project: int | str, iid: int, note_id: int) -> Any:
        mr = self._gl.projects.get(project, lazy=True).mergerequests.get(iid, lazy=True)
        return mr.notes.get(note_id, lazy=True)
