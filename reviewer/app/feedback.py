"""Feedback on the bot's findings, in Redis (``reviewer.app.feedback_report`` makes acceptance
rates and eval cases of it), and the ``reviewer_finding_feedback`` counter.

Layout: one hash per posted finding, ``reviewer:feedback:{project}:{iid}:{fingerprint}``, holding
what it was posted as (``meta``: team, repository, aspect, category, severity, prompt version,
model, where, the hunk) and one field per signal people gave (``s:{signal}:{user}``), so that a
signal read again (a redelivered hook, a re-review reading the same thread) counts once; a sorted
set indexes the findings by the time they were posted. The counter counts each signal once, when
it first arrives; ``reviewer stats`` judges each finding from the signals it holds now.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import redis

from reviewer.app import metrics
from reviewer.review.feedback import (
    FeedbackEvent,
    FeedbackVerdict,
    PostedFinding,
    Signal,
    event_verdict,
    feedback_verdict,
)

log = logging.getLogger(__name__)

FEEDBACK_TTL_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Judged:
    finding: PostedFinding
    signals: dict[Signal, int]
    verdict: FeedbackVerdict | None
    iid: int = 0  # the merge request it was posted on


class FeedbackStore:
    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:feedback:") -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, project_id: int, iid: int, fingerprint: str) -> str:
        return f"{self._prefix}{project_id}:{iid}:{fingerprint}"

    def posted(self, project_id: int, iid: int, findings: Sequence[PostedFinding]) -> None:
        """Remember what was posted (the first posting of a fingerprint on an MR wins)."""
        if not findings:
            return
        pipe = self._redis.pipeline()
        for finding in findings:
            key = self._key(project_id, iid, finding.fingerprint)
            pipe.hsetnx(key, "meta", json.dumps(finding.as_record()))
            pipe.expire(key, FEEDBACK_TTL_SECONDS)
            pipe.zadd(f"{self._prefix}index", {key: finding.posted_at}, nx=True)
        pipe.execute()

    def meta(self, project_id: int, iid: int, fingerprint: str) -> PostedFinding | None:
        raw = self._redis.hget(self._key(project_id, iid, fingerprint), "meta")
        return _finding(raw)

    def record(self, project_id: int, iid: int, events: Sequence[FeedbackEvent]) -> int:
        """Record signals about findings the bot posted on this MR; returns how many are new.
        A signal about a finding posted before feedback was recorded is kept, not counted."""
        new = 0
        for event in events:
            key = self._key(project_id, iid, event.fingerprint)
            field = f"s:{event.signal.value}:{event.user_id if event.user_id is not None else '-'}"
            if not event.present:
                self._redis.hdel(key, field)
                continue
            if not self._redis.hsetnx(key, field, b"1"):
                continue
            self._redis.expire(key, FEEDBACK_TTL_SECONDS)
            new += 1
            finding = self.meta(project_id, iid, event.fingerprint)
            if finding is not None:
                _count(finding, event.signal)
        return new

    def judged(self, *, since: float | None = None, team: str | None = None) -> Iterator[Judged]:
        """Every finding posted since ``since`` (a Unix time), of ``team``, with its signals."""
        index = f"{self._prefix}index"
        keys = self._redis.zrangebyscore(index, since if since is not None else "-inf", "+inf")
        for key in (_text(k) for k in keys):
            data = {_text(name): value for name, value in self._redis.hgetall(key).items()}
            finding = _finding(data.get("meta"))
            if finding is None:
                self._redis.zrem(index, key)  # expired
                continue
            if team is not None and team_name(finding.team) != team_name(team):
                continue
            signals: Counter[Signal] = Counter()
            for field in data:
                parts = field.split(":")
                if parts[0] == "s" and len(parts) == 3 and parts[1] in Signal._value2member_map_:
                    signals[Signal(parts[1])] += 1
            iid = key.removeprefix(self._prefix).split(":")[1]
            yield Judged(finding, dict(signals), feedback_verdict(signals), int(iid) if iid.isdigit() else 0)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _finding(raw: bytes | str | None) -> PostedFinding | None:
    if not raw:
        return None
    try:
        return PostedFinding.from_record(json.loads(raw))
    except (ValueError, TypeError):
        return None  # written by another version


def _count(finding: PostedFinding, signal: Signal) -> None:
    try:
        leaning = event_verdict(signal).value
        metrics.FEEDBACK.labels(team=finding.team, aspect=finding.aspect, verdict=leaning).inc()
    except Exception:  # a metrics failure never loses the feedback
        log.exception("could not count feedback")


def team_name(team: str) -> str:
    """'group:default/payments' and 'payments' name the same team."""
    return team.rsplit("/", 1)[-1].split(":")[-1]
