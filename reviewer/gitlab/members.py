"""Who may do what in a project: a user's access level, from GitLab's Members API
(``GET /projects/:id/members/all/:user_id``, inherited memberships included), cached a few
minutes per client so that a burst of commands reads it once.

Access levels, as GitLab numbers them: 10 Guest, 15 Planner, 20 Reporter, 30 Developer,
40 Maintainer, 50 Owner; 0 is no member.
"""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from cachetools import TTLCache

from reviewer.errors import GitLabError
from reviewer.gitlab.client import GitLabClient

__all__ = ["DEVELOPER", "MAINTAINER", "NO_ACCESS", "access_level", "role_name"]

NO_ACCESS, DEVELOPER, MAINTAINER = 0, 30, 40
CACHE_SECONDS = 180.0
_ROLES = {10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}

# one cache per client (a worker keeps its client; the cache goes with it)
_caches: WeakKeyDictionary[GitLabClient, TTLCache[tuple[str, int], int]] = WeakKeyDictionary()
_guard = threading.Lock()


def access_level(gitlab: GitLabClient, project: int | str, user_id: int) -> int:
    """``user_id``'s access level in ``project`` (0 when not a member); other errors raise."""
    key = (str(project), user_id)
    with _guard:
        cache = _caches.setdefault(gitlab, TTLCache(maxsize=4096, ttl=CACHE_SECONDS))
        if key in cache:
            return cache[key]
    proj = gitlab.api.projects.get(project, lazy=True)
    try:
        member = gitlab.call(
            f"read a member of {project}", lambda: proj.members_all.get(user_id, max_retries=gitlab.retries)
        )
        level = int(member.attributes.get("access_level") or NO_ACCESS)
    except GitLabError as exc:
        if exc.status != 404:
            raise
        level = NO_ACCESS
    with _guard:
        cache[key] = level
    return level


def role_name(level: int) -> str:
    """'Maintainer' for 40; the nearest role below for a level between them."""
    below = [n for n in _ROLES if n <= level]
    return _ROLES[max(below)] if below else "no member"
