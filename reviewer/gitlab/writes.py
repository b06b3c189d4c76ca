"""The bot's writes of notes: threads (inline or not), replies, resolving a thread, and the one
summary note; mixed into ``GitLabClient`` (reviewer.gitlab.client, whose module doc says how they
are sent: creation calls once, read back by their markers after a lost answer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from gitlab.exceptions import GitlabError

from reviewer.diff.positions import Position
from reviewer.errors import GitLabError, PositionRejected, TransientError
from reviewer.gitlab.api import ONCE, ambiguous, describe_failure, position_payload, same_write, translate
from reviewer.gitlab.markdown import Markdown
from reviewer.gitlab.markers import SUMMARY_MARKER

log = logging.getLogger(__name__)

T = TypeVar("T")


class NoteWrites:
    """Writes through the client's plumbing (``_mr``, ``_call``, ``_iterate``, ``bot_user_id``)."""

    _retries: int

    if TYPE_CHECKING:

        def bot_user_id(self) -> int: ...
        def _mr(self, project: int | str, iid: int, *, lazy: bool = False) -> Any: ...
        def _call(self, what: str, fn: Callable[[], T]) -> T: ...
        def _iterate(self, what: str, lister: Callable[..., Any]) -> Iterator[Any]: ...

    # -- writing -----------------------------------------------------------------------------

    def create_thread(self, project: int | str, iid: int, body: Markdown, position: Position | None) -> str:
        """Start a discussion; inline when ``position`` is given. Raises PositionRejected on 400.

        A multi-line range is sent with its line codes; when GitLab refuses it, the single-line
        form of the same position is tried before giving up on inline placement. Sent once: see
        the module doc for a lost answer.
        """
        text = _text(body)
        mr = self._mr(project, iid, lazy=True)

        def find() -> str | None:
            return self._find_thread(project, iid, text)

        if position is None:
            return self._create_once(
                f"comment on {project}!{iid}",
                lambda: mr.discussions.create({"body": text}, max_retries=self._retries, **ONCE).id,
                find,
            )
        last: GitLabError | None = None
        for with_range in (True, False):
            data = {"body": text, "position": position_payload(position, with_range=with_range)}
            try:
                return self._create_once(
                    f"comment on a line of {project}!{iid}",  # no path: a file name can hold a secret
                    lambda data=data: mr.discussions.create(data, max_retries=self._retries, **ONCE).id,  # type: ignore[misc]
                    find,
                )
            except GitLabError as exc:
                if exc.status != 400:
                    raise
                last = exc
        raise PositionRejected(str(last))

    def reply(self, project: int | str, iid: int, discussion_id: str, body: Markdown) -> str:
        """Add a note to a thread; sent once (see the module doc). Returns the note's id."""
        text = _text(body)
        mr = self._mr(project, iid, lazy=True)
        discussion = mr.discussions.get(discussion_id, lazy=True)
        return self._create_once(
            f"reply in a thread of {project}!{iid}",
            lambda: discussion.notes.create({"body": text}, max_retries=self._retries, **ONCE).id,
            lambda: self._find_reply(project, iid, discussion_id, text),
        )

    def resolve_thread(
        self, project: int | str, iid: int, discussion_id: str, reply: Markdown | None = None
    ) -> None:
        """Resolve a thread, after a reply saying why when ``reply`` is given."""
        if reply:
            self.reply(project, iid, discussion_id, reply)
        discussion = self._mr(project, iid, lazy=True).discussions.get(discussion_id, lazy=True)
        discussion.resolved = True  # a PUT: safe to repeat, so retried as usual
        self._call(f"resolve a thread on {project}!{iid}", lambda: discussion.save(max_retries=self._retries))

    def upsert_summary(self, project: int | str, iid: int, body: Markdown) -> int:
        """Edit the bot's summary note in place, or create it: one summary per MR, ever."""
        text = _text(body)
        mr = self._mr(project, iid, lazy=True)
        note = self._summary_note(project, iid)
        if note is not None:
            note.body = text
            self._call(f"update the summary of {project}!{iid}", lambda: note.save(max_retries=self._retries))
            return int(note.id)

        def find() -> str | None:
            found = self._summary_note(project, iid)
            return str(found.id) if found is not None else None

        created = self._create_once(
            f"post the summary of {project}!{iid}",
            lambda: mr.notes.create({"body": text}, max_retries=self._retries, **ONCE).id,
            find,
        )
        return int(created)

    def has_summary(self, project: int | str, iid: int) -> bool:
        """Whether the bot's summary note is on the MR."""
        return self._summary_note(project, iid) is not None

    def _summary_note(self, project: int | str, iid: int) -> Any | None:
        bot = self.bot_user_id()
        mr = self._mr(project, iid, lazy=True)
        listing = self._iterate(
            f"list notes of {project}!{iid}",
            lambda **kw: mr.notes.list(sort="asc", order_by="created_at", **kw),
        )
        for note in listing:
            if (note.attributes.get("author") or {}).get("id") == bot and SUMMARY_MARKER in (
                note.attributes.get("body") or ""
            ):
                return note
        return None

    def _find_thread(self, project: int | str, iid: int, body: str) -> str | None:
        """The bot's discussion whose first note is this body (by its markers), if GitLab has it."""
        bot, same = self.bot_user_id(), same_write(body)
        mr = self._mr(project, iid, lazy=True)
        for discussion in self._iterate(f"list discussions of {project}!{iid}", mr.discussions.list):
            notes = discussion.attributes.get("notes") or []
            if notes and (notes[0].get("author") or {}).get("id") == bot and same(notes[0].get("body") or ""):
                return str(discussion.id)
        return None

    def _find_reply(self, project: int | str, iid: int, discussion_id: str, body: str) -> str | None:
        bot, same = self.bot_user_id(), same_write(body)
        mr = self._mr(project, iid, lazy=True)
        discussion = self._call(
            f"read a thread of {project}!{iid}",
            lambda: mr.discussions.get(discussion_id, max_retries=self._retries),
        )
        for note in discussion.attributes.get("notes") or []:
            if (note.get("author") or {}).get("id") == bot and same(note.get("body") or ""):
                return str(note["id"])
        return None

    def _create_once(self, what: str, send: Callable[[], Any], find: Callable[[], str | None]) -> str:
        """Send a creation call once. When its answer is lost, read back: ``find`` returns the id
        of what was written, or None. Nothing is sent a second time here."""
        try:
            return str(send())
        except (GitlabError, requests.RequestException) as exc:
            if not ambiguous(exc):
                raise translate(what, exc) from exc
            reason = describe_failure(exc)
        found = find()  # a read: retried as usual, a TransientError when GitLab stays down
        if found is not None:
            log.info("could %s, then the answer was lost (%s): it is there, not sent again", what, reason)
            return found
        raise TransientError(f"could not {what}: {reason}, and it is not there; a later retry sends it")


def _text(body: Markdown) -> str:
    if not isinstance(body, Markdown):  # a type checker catches it first; this catches the rest
        raise TypeError(f"a GitLab body must come from reviewer.gitlab.markdown, not {type(body).__name__}")
    return body.text
