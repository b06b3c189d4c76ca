"""What the bot remembers between deliveries, in Redis: deliveries seen and heads reviewed."""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis

from reviewer.app import redis_url
from reviewer.review.findings import Finding, from_record, to_record


def connect(url: str) -> redis.Redis:
    """A Redis client for REVIEWER_REDIS_URL in any spelling it accepts (reviewer.app.redis_url)."""
    return redis_url.connect(url)


DELIVERY_TTL_SECONDS = 3 * 24 * 3600
REVIEW_TTL_SECONDS = 30 * 24 * 3600


class RedisDeliveryLog:
    """At-least-once deliveries made once: a key is claimed atomically with SET NX."""

    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:delivery:") -> None:
        self._redis = client
        self._prefix = prefix

    def first_time(self, key: str) -> bool:
        return bool(self._redis.set(self._prefix + key, b"1", nx=True, ex=DELIVERY_TTL_SECONDS))

    def forget(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


class ReviewLedger:
    """Which head of each MR was last reviewed, so a redelivered or repeated event costs nothing."""

    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:reviewed:") -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, project_id: int | str, iid: int) -> str:
        return f"{self._prefix}{project_id}:{iid}"

    def last_reviewed(self, project_id: int | str, iid: int) -> str | None:
        value = self._redis.get(self._key(project_id, iid))
        return value.decode() if isinstance(value, bytes) else value

    def record(
        self,
        project_id: int | str,
        iid: int,
        head_sha: str,
        in_summary: Sequence[tuple[Finding, str]] = (),
    ) -> None:
        """Remember the head reviewed and the findings its summary lists (a follow-up review of a
        push keeps listing those of files it does not review again)."""
        listed = json.dumps([{"finding": to_record(f), "reason": reason} for f, reason in in_summary])
        pipe = self._redis.pipeline()
        pipe.set(self._key(project_id, iid), head_sha.encode(), ex=REVIEW_TTL_SECONDS)
        pipe.set(self._key(project_id, iid) + ":summary", listed.encode(), ex=REVIEW_TTL_SECONDS)
        pipe.execute()

    def in_summary(self, project_id: int | str, iid: int) -> list[tuple[Finding, str]]:
        raw = self._redis.get(self._key(project_id, iid) + ":summary")
        if not raw:
            return []
        try:
            return [(from_record(e["finding"]), str(e["reason"])) for e in json.loads(raw)]
        except (ValueError, KeyError, TypeError):
            return []  # written by another version: the next review writes it anew

    def allow_command(
        self, project_id: int | str, iid: int, head_sha: str, *, cooldown: int = 120, claimant: str = ""
    ) -> bool:
        """A ``/ai-review`` of the same head at most once per ``cooldown`` seconds: a comment
        thread cannot be turned into a way to spend the model budget. The job that claimed the
        head (``claimant``, its id) is still allowed when it is retried."""
        key = f"reviewer:command:{project_id}:{iid}:{head_sha}"
        if self._redis.set(key, (claimant or "1").encode(), nx=True, ex=cooldown):
            return True
        return bool(claimant) and self._redis.get(key) == claimant.encode()
