"""Who may ask the bot for work: a user's access level on a project, from GitLab's members API.

Follows "Group and project members API" (doc/api/members.md): ``GET /projects/:id/members/all/:user_id``
answers for direct members, members inherited from the ancestor groups and invited groups' members;
404 for anyone else (no access, 0). A membership that is not active (awaiting, blocked) counts as no
access. Levels: 10 Guest, 15 Planner, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.

Answers are cached a few minutes per client (its ``members``), per project and user: a burst of
commands reads a level once; a role change is seen within ``ttl`` seconds. ``access_level(gitlab,
...)`` is the same read for callers that hold the client.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import gitlab
from cachetools import TTLCache

from reviewer.errors import GitLabError
from reviewer.gitlab.api import guarded

if TYPE_CHECKING:
    from reviewer.gitlab.client import GitLabClient

__all__ = [
    "DEVELOPER",
    "GUEST",
    "LEVEL_NAMES",
    "MAINTAINER",
    "NO_ACCESS",
    "OWNER",
    "PLANNER",
    "REPORTER",
    "Members",
    "access_level",
    "role_name",
]

NO_ACCESS, GUEST, PLANNER, REPORTER, DEVELOPER, MAINTAINER, OWNER = 0, 10, 15, 20, 30, 40, 50
LEVEL_NAMES = {
    GUEST: "Guest",
    PLANNER: "Planner",
    REPORTER: "Reporter",
    DEVELOPER: "Developer",
    MAINTAINER: "Maintainer",
    OWNER: "Owner",
}
CACHE_SECONDS = 180.0


class Members:
    def __init__(self, gl: gitlab.Gitlab, *, retries: int = 3, ttl: float = CACHE_SECONDS) -> None:
        self._gl = gl
        self._retries = retries
        self._cache: TTLCache[tuple[str, int], int] = TTLCache(maxsize=4096, ttl=ttl)
        self._guard = threading.Lock()

    def access_level(self, project: int | str, user_id: int) -> int:
        """``user_id``'s access level on ``project``, inherited and invited memberships included;
        0 for someone who is not an active member; other errors raise."""
        key = (str(project), user_id)
        with self._guard:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        level = self._read(project, user_id)
        with self._guard:
            self._cache[key] = level
        return level

    def _read(self, project: int | str, user_id: int) -> int:
        proj = self._gl.projects.get(project, lazy=True)
        try:
            member: Any = guarded(
                f"read the membership of user {user_id} in {project}",
                lambda: proj.members_all.get(user_id, max_retries=self._retries),
            )
        except GitLabError as exc:
            if exc.status == 404:
                return NO_ACCESS
            raise
        attributes = member.attributes
        if (
            attributes.get("state", "active") != "active"
            or attributes.get("membership_state", "active") != "active"
        ):
            return NO_ACCESS
        level = attributes.get("access_level")
        return level if isinstance(level, int) and not isinstance(level, bool) else NO_ACCESS


def access_level(gitlab: GitLabClient, project: int | str, user_id: int) -> int:
    """``user_id``'s access level in ``project`` (0 when not a member), cached by ``gitlab.members``."""
    return gitlab.members.access_level(project, user_id)


def role_name(level: int) -> str:
    """'Maintainer' for 40; the nearest role below for a level between them."""
    below = [n for n in LEVEL_NAMES if n <= level]
    return LEVEL_NAMES[max(below)] if below else "no member"
