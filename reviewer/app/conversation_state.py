"""What people told the bot, in Redis: automatic reviews paused per MR, findings dismissed per MR,
rules remembered per repository, and the rate limits of commands, refusals and answers.

Every limit is claimed by the note (or delivery) that asks, so a retried task is answered as the
first attempt was, never refused by its own earlier claim.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

PAUSE_TTL_SECONDS = 90 * 24 * 3600
IGNORED_TTL_SECONDS = 180 * 24 * 3600
MAX_RULES = 20
MAX_RULE_CHARS = 300


class ConversationState:
    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:") -> None:
        self._redis = client
        self._prefix = prefix

    # automatic reviews of one MR

    def pause(self, project_id: int, iid: int) -> None:
        self._redis.set(f"{self._prefix}paused:{project_id}:{iid}", b"1", ex=PAUSE_TTL_SECONDS)

    def resume(self, project_id: int, iid: int) -> None:
        self._redis.delete(f"{self._prefix}paused:{project_id}:{iid}")

    def paused(self, project_id: int, iid: int) -> bool:
        return bool(self._redis.exists(f"{self._prefix}paused:{project_id}:{iid}"))

    # findings dismissed on one MR

    def ignore(self, project_id: int, iid: int, fingerprints: Iterable[str]) -> None:
        values = [fp.encode() for fp in fingerprints]
        if not values:
            return
        key = f"{self._prefix}ignored:{project_id}:{iid}"
        pipe = self._redis.pipeline()
        pipe.sadd(key, *values)
        pipe.expire(key, IGNORED_TTL_SECONDS)
        pipe.execute()

    def ignored(self, project_id: int, iid: int) -> frozenset[str]:
        members = self._redis.smembers(f"{self._prefix}ignored:{project_id}:{iid}")
        return frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    # rules remembered for one repository

    def remember(self, project_id: int, rule: str, claim: str) -> int | None:
        """Add a rule (one line, cut to ``MAX_RULE_CHARS``); its number, or None when the
        repository has ``MAX_RULES`` already. The same ``claim`` (a retried note) adds it once."""
        text = " ".join(rule.split())[:MAX_RULE_CHARS]
        key = f"{self._prefix}rules:{project_id}"
        done = f"{self._prefix}remembered:{claim}"
        if self._redis.get(done) is not None:
            return self._number(key, text)
        if self._redis.llen(key) >= MAX_RULES:
            return None
        number = int(self._redis.rpush(key, text.encode()))
        if number > MAX_RULES:  # another rule came in between: the later one does not stay
            self._redis.ltrim(key, 0, MAX_RULES - 1)
            return None
        self._redis.set(done, b"1", ex=7 * 24 * 3600)
        return number

    def forget(self, project_id: int, number: int, claim: str) -> str | None:
        """Remove rule ``number`` (from 1); the rule removed, or None when there is no such rule.
        The same ``claim`` (a retried note) removes one rule, once."""
        done = f"{self._prefix}forgotten:{claim}"
        earlier = self._redis.get(done)
        if earlier is not None:
            return earlier.decode() if isinstance(earlier, bytes) else str(earlier)
        key = f"{self._prefix}rules:{project_id}"
        rules = self.rules(project_id)
        if not 1 <= number <= len(rules):
            return None
        tomb = "\x00forgotten"
        pipe = self._redis.pipeline()
        pipe.lset(key, number - 1, tomb)
        pipe.lrem(key, 1, tomb)
        pipe.set(done, rules[number - 1].encode(), ex=7 * 24 * 3600)
        pipe.execute()
        return rules[number - 1]

    def rules(self, project_id: int) -> tuple[str, ...]:
        values = self._redis.lrange(f"{self._prefix}rules:{project_id}", 0, MAX_RULES - 1)
        return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values)

    def _number(self, key: str, text: str) -> int | None:
        rules = [v.decode() if isinstance(v, bytes) else str(v) for v in self._redis.lrange(key, 0, -1)]
        return rules.index(text) + 1 if text in rules else None

    # limits

    def allow(self, bucket: str, limit: int, seconds: int, claim: str) -> bool:
        """At most ``limit`` claims in ``bucket`` per window of ``seconds``; a claim asked again
        gets the answer it got the first time."""
        decided = f"{self._prefix}limit:{bucket}:claim:{claim}"
        earlier = self._redis.get(decided)
        if earlier is not None:
            return earlier == b"1"
        counter = f"{self._prefix}limit:{bucket}:{int(time.time() // seconds)}"  # a fixed window
        pipe = self._redis.pipeline()
        pipe.incr(counter)
        pipe.expire(counter, seconds)
        count = int(pipe.execute()[0])
        allowed = count <= limit
        self._redis.set(decided, b"1" if allowed else b"0", ex=seconds, nx=True)
        return self._redis.get(decided) == b"1"

    def first_in(self, key: str, seconds: int, claim: str) -> bool:
        """True for the first claim of ``key`` in ``seconds`` (and for that same claim again)."""
        name = f"{self._prefix}once:{key}"
        if self._redis.set(name, claim.encode(), nx=True, ex=seconds):
            return True
        return self._redis.get(name) == claim.encode()
