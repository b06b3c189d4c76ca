"""GitLab's shapes as this bot writes and reads them: the ``position`` of a diff thread, the
bot's threads (recognised by the markers of ``reviewer.gitlab.markers``), and which python-gitlab
errors mean what.

A diff thread's position follows GitLab's Discussions API (``position_type=text``, the three SHAs
of the latest version, ``old_path``/``new_path``, ``new_line``/``old_line``, ``line_range`` with
line codes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabError, GitlabHttpError

from reviewer.diff.positions import LinePoint, Position
from reviewer.errors import GitLabError, TransientError
from reviewer.gitlab.markers import ANY_MARKER, FINGERPRINT_MARKER, RESOLVED_MARKER
from reviewer.review.findings import Side

ONCE: dict[str, Any] = {"retry_transient_errors": False}  # creation calls: never re-sent blindly
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BotThread:
    """A discussion the bot started, recognised by its author and the fingerprint markers."""

    discussion_id: str
    note_id: int
    fingerprints: tuple[str, ...]  # every finding the bot listed in it, replies included
    anchors: tuple[str, ...]  # code hashes of the lines they are about (none on older versions)
    resolved: bool
    path: str | None
    side: Side  # where the thread sits: "old" for a removed line, else "new"
    line: int | None = None  # the line it sits on, on that side, in the version of head_sha
    head_sha: str | None = None
    resolution_explained: bool = False  # the bot already replied why it resolves it
    resolved_by: int | None = None  # who resolved it (a person, or the bot when its line changed)
    suggestion: tuple[str, str] | None = None  # (fingerprint, code) of the suggestion its first note offers
    graded: tuple[tuple[str, str, str], ...] = ()  # (fingerprint, aspect, severity) where the marker says


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What GitLab says about the bot's token: whose it is, and what it may do."""

    user_id: int
    username: str
    is_admin: bool
    scopes: tuple[str, ...] | None  # None: not a personal, project or group access token


def bot_thread(discussion_id: str, notes: list[dict[str, Any]], bot_id: int) -> BotThread | None:
    """A discussion's notes (as the Discussions API lists them) as the bot's thread, or None
    when someone else started it or it carries no finding."""
    if not notes or (notes[0].get("author") or {}).get("id") != bot_id:
        return None
    bodies = [n.get("body") or "" for n in notes if (n.get("author") or {}).get("id") == bot_id]
    if not FINGERPRINT_MARKER.search(bodies[0]):
        return None
    markers = [m for body in bodies for m in FINGERPRINT_MARKER.finditer(body)]
    first = notes[0]
    position = first.get("position") or {}
    only_old = position.get("old_line") is not None and position.get("new_line") is None
    return BotThread(
        discussion_id=discussion_id,
        note_id=int(first["id"]),
        fingerprints=tuple(dict.fromkeys(m.group(1) for m in markers)),
        anchors=tuple(dict.fromkeys(m.group(2) for m in markers if m.group(2))),
        resolved=bool(first.get("resolved")),
        path=(position.get("old_path") if only_old else position.get("new_path")) or None,
        side=Side.OLD if only_old else Side.NEW,
        line=position.get("old_line") if only_old else position.get("new_line"),
        head_sha=position.get("head_sha"),
        resolution_explained=any(RESOLVED_MARKER in body for body in bodies),
        resolved_by=(first.get("resolved_by") or {}).get("id") if first.get("resolved") else None,
        suggestion=suggested_code(bodies[0]),
        graded=tuple(dict.fromkeys((m.group(1), m.group(4), m.group(3)) for m in markers if m.group(4))),
    )


_SUGGESTION = re.compile(r"^(`{3,})suggestion:-\d+\+0\n(.*?)\n\1$", re.M | re.S)


def suggested_code(body: str) -> tuple[str, str] | None:
    """The first suggestion block of a note the bot wrote (``markdown.thread``): the fingerprint of
    the finding that offers it (the marker after it) and its code."""
    match = _SUGGESTION.search(body)
    marker = FINGERPRINT_MARKER.search(body, match.end()) if match else None
    return (marker.group(1), match.group(2)) if match and marker else None


def position_payload(position: Position, *, with_range: bool = True) -> dict[str, Any]:
    """GitLab's ``position`` object for a diff thread. Line fields appear only as set."""
    payload: dict[str, Any] = {
        "position_type": "text",
        "base_sha": position.refs.base_sha,
        "start_sha": position.refs.start_sha,
        "head_sha": position.refs.head_sha,
        "old_path": position.old_path,
        "new_path": position.new_path,
    }
    if position.old_line is not None:
        payload["old_line"] = position.old_line
    if position.new_line is not None:
        payload["new_line"] = position.new_line
    if with_range:
        payload["line_range"] = {"start": _point(position.start), "end": _point(position.end)}
    return payload


def _point(point: LinePoint) -> dict[str, Any]:
    out: dict[str, Any] = {"line_code": point.line_code, "type": point.type}
    if point.old_line is not None:
        out["old_line"] = point.old_line
    if point.new_line is not None:
        out["new_line"] = point.new_line
    return out


def same_write(body: str) -> Callable[[str], bool]:
    """Whether a note's body is this write: it holds every ai-review marker of ``body`` (or, for
    a body without markers, is the same text)."""
    wanted = set(ANY_MARKER.findall(body))
    if not wanted:
        return lambda other: other.strip() == body.strip()
    return lambda other: wanted <= set(ANY_MARKER.findall(other))


def ambiguous(exc: Exception) -> bool:
    """A failure after which a write may or may not have happened: a 5xx, a timeout, a
    connection lost after sending. A refused connection or a 4xx wrote nothing."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.RequestException):
        return True
    status = exc.response_code if isinstance(exc, GitlabError) else None
    return status is not None and status >= 500


def describe_failure(exc: Exception) -> str:
    if isinstance(exc, GitlabError) and exc.response_code is not None:
        return f"GitLab answered {exc.response_code}"
    return type(exc).__name__


def guarded(what: str, fn: Callable[[], T]) -> T:
    """``fn()``, with python-gitlab's and requests' errors translated into the project's own."""
    try:
        return fn()
    except (GitlabError, requests.RequestException) as exc:
        raise translate(what, exc) from exc


def translate(what: str, exc: Exception) -> Exception:
    if isinstance(exc, requests.RequestException):
        return TransientError(f"could not {what}: {type(exc).__name__}")
    assert isinstance(exc, GitlabError)
    status = exc.response_code
    if isinstance(exc, GitlabAuthenticationError) and status is None:
        status = 401
    message = _short(exc.error_message)
    if status is not None and (status >= 500 or status == 429):
        return TransientError(f"could not {what}: GitLab answered {status}")
    if isinstance(exc, GitlabHttpError) or status is not None:
        return GitLabError(f"could not {what}: GitLab answered {status}: {message}", status=status)
    return GitLabError(f"could not {what}: {message}", status=status)


def _short(message: Any) -> str:
    text = str(message)
    return text if len(text) <= 300 else text[:300] + "..."
