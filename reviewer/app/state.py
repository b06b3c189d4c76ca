"""What the bot remembers between deliveries, in Redis: deliveries seen, heads reviewed (in full
or in part), the model's answers per head, the ``/ai-review`` cooldown, and how each MR's reviews
are published (draft notes unavailable, approval refused, the last verdict, an override). The
ledger implements ``reviewer.review.memory.Ledger``, the Protocol the pipeline depends on; what
people told the bot and the feedback on its findings it keeps through ``conversation_state`` and
``feedback``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import redis

from reviewer.app import redis_url as redis_urls
from reviewer.app.conversation_state import ConversationState
from reviewer.app.feedback import FeedbackStore
from reviewer.review.feedback import FeedbackEvent, PostedFinding
from reviewer.review.findings import Finding, from_record, to_record
from reviewer.review.memory import PublishState, Unfinished


@contextmanager
def opened(redis_url: str | None, state_dir: Path) -> Iterator[redis.Redis]:
    """A client of the bot's Redis, for a command that reads its state: ``redis_url``, or the
    embedded Redis's data in ``state_dir`` (started for the command and stopped after it)."""
    if redis_url:
        yield connect(redis_url)
        return
    from reviewer.app.embedded_redis import EmbeddedRedis

    embedded = EmbeddedRedis(state_dir)
    try:
        client = connect(embedded.url)
        client.config_set("save", "")  # a reader: it must not write its copy over a running bot's data
        yield client
    finally:
        embedded.close()


def connect(url: str) -> redis.Redis:
    """A Redis client for REVIEWER_REDIS_URL in any spelling it accepts (reviewer.app.redis_url)."""
    return redis_urls.connect(url)


DELIVERY_TTL_SECONDS = 3 * 24 * 3600
REVIEW_TTL_SECONDS = 30 * 24 * 3600
ANSWER_TTL_SECONDS = 7 * 24 * 3600  # a head's model answers: long enough for every retry and re-trigger


class RedisDeliveryLog:
    """At-least-once deliveries made once: a key is claimed atomically with SET NX."""

    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:delivery:") -> None:
        self._redis = client
        self._prefix = prefix

    def first_time(self, key: str) -> bool:
        return bool(self._redis.set(self._prefix + key, b"1", nx=True, ex=DELIVERY_TTL_SECONDS))

    def forget(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


class RedisAnswerStore:
    """The model's answers for one head of one MR: a Redis hash, question -> answer, that
    expires ``ANSWER_TTL_SECONDS`` after its last answer."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._redis = client
        self._key = key

    def get(self, key: str) -> str | None:
        value = self._redis.hget(self._key, key)
        return value.decode() if isinstance(value, bytes) else value

    def put(self, key: str, value: str) -> None:
        pipe = self._redis.pipeline()
        pipe.hset(self._key, key, value.encode())
        pipe.expire(self._key, ANSWER_TTL_SECONDS)
        pipe.execute()


class ReviewLedger:
    """Which head of each MR was last reviewed, so a redelivered or repeated event costs nothing;
    which head was reviewed only in part, so the next trigger reviews what failed."""

    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:reviewed:") -> None:
        self._redis = client
        self._prefix = prefix
        self.conversations = ConversationState(client)
        self.feedback_store = FeedbackStore(client)

    def _key(self, project_id: int | str, iid: int) -> str:
        return f"{self._prefix}{project_id}:{iid}"

    def last_reviewed(self, project_id: int | str, iid: int) -> str | None:
        """The last head reviewed completely; a head reviewed in part does not count."""
        value = self._redis.get(self._key(project_id, iid))
        return value.decode() if isinstance(value, bytes) else value

    def unfinished(self, project_id: int | str, iid: int) -> Unfinished | None:
        """The last review, when it could not review some files (newer than ``last_reviewed``)."""
        raw = self._redis.get(self._key(project_id, iid) + ":unfinished")
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return Unfinished(str(data["head"]), tuple(str(p) for p in data["paths"]))
        except (ValueError, KeyError, TypeError):
            return None  # written by another version: the next review writes it anew

    def record(
        self,
        project_id: int | str,
        iid: int,
        head_sha: str,
        in_summary: Sequence[tuple[Finding, str]] = (),
        *,
        unfinished: Sequence[str] = (),
    ) -> None:
        """Remember the head reviewed and the findings its summary lists (a follow-up review of a
        push keeps listing those of files it does not review again). With ``unfinished`` (files
        whose model calls failed), the head is recorded as reviewed in part, not as reviewed."""
        key = self._key(project_id, iid)
        listed = json.dumps([{"finding": to_record(f), "reason": reason} for f, reason in in_summary])
        pipe = self._redis.pipeline()
        if unfinished:
            partial = json.dumps({"head": head_sha, "paths": list(unfinished)})
            pipe.set(key + ":unfinished", partial.encode(), ex=REVIEW_TTL_SECONDS)
        else:
            pipe.set(key, head_sha.encode(), ex=REVIEW_TTL_SECONDS)
            pipe.delete(key + ":unfinished")
        pipe.set(key + ":summary", listed.encode(), ex=REVIEW_TTL_SECONDS)
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
        self, project_id: int | str, iid: int, head_sha: str, delivery: str = "", *, cooldown: int = 120
    ) -> bool:
        """A ``/ai-review`` of the same head at most once per ``cooldown`` seconds: a comment
        thread cannot be turned into a way to spend the model budget. The cooldown belongs to the
        delivery that started it, so a retry of that same delivery (after a transient error) is
        not refused by its own cooldown."""
        key = f"reviewer:command:{project_id}:{iid}:{head_sha}"
        claim = (delivery or "-").encode()
        if self._redis.set(key, claim, nx=True, ex=cooldown):
            return True
        return bool(delivery) and self._redis.get(key) == claim

    def answers(self, project_id: int | str, iid: int, head_sha: str) -> RedisAnswerStore:
        """Where the model's answers for this head are kept (see ``reviewer.review.memory``)."""
        return RedisAnswerStore(self._redis, f"reviewer:answers:{project_id}:{iid}:{head_sha}")

    def publish_state(self, project_id: int | str, iid: int) -> PublishState:
        """How the MR's reviews are published (``reviewer.review.memory.PublishState``)."""
        raw = self._redis.get(self._key(project_id, iid) + ":publish")
        try:
            return PublishState.from_record(json.loads(raw)) if raw else PublishState()
        except (ValueError, KeyError, TypeError):
            return PublishState()  # written by another version: the next review writes it anew

    def save_publish_state(self, project_id: int | str, iid: int, state: PublishState) -> None:
        record = json.dumps(state.as_record()).encode()
        self._redis.set(self._key(project_id, iid) + ":publish", record, ex=REVIEW_TTL_SECONDS)

    # people in the loop (reviewer.review.memory.Ledger)

    def paused(self, project_id: int, iid: int) -> bool:
        return self.conversations.paused(project_id, iid)

    def ignored(self, project_id: int, iid: int) -> frozenset[str]:
        return self.conversations.ignored(project_id, iid)

    def rules(self, project_id: int) -> tuple[str, ...]:
        return self.conversations.rules(project_id)

    def posted(self, project_id: int, iid: int, findings: Sequence[PostedFinding]) -> None:
        self.feedback_store.posted(project_id, iid, findings)

    def feedback(self, project_id: int, iid: int, events: Sequence[FeedbackEvent]) -> None:
        self.feedback_store.record(project_id, iid, events)
