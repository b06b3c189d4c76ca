"""The catch-up sweep: the last defence when a webhook never arrives.

GitLab disables a hook that keeps failing and never redelivers what it missed meanwhile. Every
``REVIEWER_SWEEP_INTERVAL`` seconds one worker lists the open merge requests of the projects the
bot reviewed within ``REVIEWER_SWEEP_HORIZON`` and queues a review of each whose head was never
reviewed. It is gentle with GitLab's API: one paginated listing per project (python-gitlab waits out
a 429's Retry-After), a pause between projects, only MRs updated within the horizon, and each
unreviewed head queued once (a claim in Redis) however many sweeps see it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from reviewer.app.state import ReviewLedger
from reviewer.gitlab.client import GitLabClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unreviewed:
    project_id: int
    iid: int
    head_sha: str


class ReviewedProjects:
    """Projects the bot reviewed, with when it last did (a sorted set: project id -> time)."""

    def __init__(self, client: redis.Redis, *, key: str = "reviewer:projects") -> None:
        self._redis = client
        self._key = key

    def touch(self, project_id: int, *, now: float | None = None) -> None:
        self._redis.zadd(self._key, {str(project_id): time.time() if now is None else now})

    def recent(self, horizon: float, *, now: float | None = None) -> list[int]:
        """Projects reviewed within ``horizon`` seconds, most recent first; older ones are forgotten."""
        oldest = (time.time() if now is None else now) - horizon
        self._redis.zremrangebyscore(self._key, "-inf", f"({oldest}")
        members: list[bytes] = self._redis.zrevrange(self._key, 0, -1)  # type: ignore[assignment]
        return [int(member) for member in members]


class SweepClaims:
    """At most one sweep at a time, and each unreviewed head queued once by the sweeps."""

    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:sweep:") -> None:
        self._redis = client
        self._prefix = prefix

    def start(self, seconds: float) -> bool:
        return bool(self._redis.set(self._prefix + "running", b"1", nx=True, ex=max(1, int(seconds))))

    def finish(self) -> None:
        self._redis.delete(self._prefix + "running")

    def head(self, mr: Unreviewed, seconds: float) -> bool:
        key = f"{self._prefix}{mr.project_id}:{mr.iid}:{mr.head_sha}"
        return bool(self._redis.set(key, b"1", nx=True, ex=max(1, int(seconds))))


def unreviewed(
    gitlab: GitLabClient,
    ledger: ReviewLedger,
    projects: list[int],
    *,
    horizon: float,
    pause: float,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Unreviewed]:
    """The open MRs of ``projects`` whose head was never reviewed, one project listing at a time."""
    updated_after = datetime.now(UTC) - timedelta(seconds=horizon)
    found: list[Unreviewed] = []
    for number, project_id in enumerate(projects):
        if number and pause:
            sleep(pause)  # pacing the listings: a sweep must not eat the API rate limit of reviews
        for mr in gitlab.open_merge_requests(project_id, updated_after=updated_after):
            if mr.head_sha and ledger.last_reviewed(mr.project_id, mr.iid) != mr.head_sha:
                found.append(Unreviewed(mr.project_id, mr.iid, mr.head_sha))
    return found


def sweep(
    gitlab: GitLabClient,
    ledger: ReviewLedger,
    projects: ReviewedProjects,
    claims: SweepClaims,
    enqueue: Callable[[Unreviewed], None],
    *,
    interval: float,
    horizon: float,
    pause: float,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Unreviewed]:
    """One sweep: queue what was never reviewed; returns what it queued (nothing when another
    sweep is running)."""
    if not claims.start(max(interval, 60.0)):
        log.info("catch-up sweep skipped: another one is running")
        return []
    try:
        recent = projects.recent(horizon)
        queued = []
        for mr in unreviewed(gitlab, ledger, recent, horizon=horizon, pause=pause, sleep=sleep):
            if claims.head(mr, max(6 * interval, 3600.0)):
                enqueue(mr)
                queued.append(mr)
        log.info("catch-up sweep: %d projects, %d reviews queued", len(recent), len(queued))
        return queued
    finally:
        claims.finish()
