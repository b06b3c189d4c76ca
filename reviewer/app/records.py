"""One record per finished review, in Redis, for the platform pages (reviewer.app.pages).

Layout (prefix ``reviewer:records:``): the newest reviews of the installation in ``recent`` and of
each team in ``team:{team}``, JSON records in capped lists (``KEEP`` each, newest first); the teams
by their last review in the sorted set ``teams``; running totals of each team since its first
record in the hash ``totals:{team}``; ``job:{id}`` marks a job already recorded, so a job whose
outcome is written twice (a redelivered copy) counts once; ``projects`` holds each project's path
and team as last recorded, for the jobs that stop before they know them (a review skipped because
its head was reviewed already, one that failed before the catalog answered): they count for the
team that owned the project at its last review.

A record holds counts and masked text only (reviewer.app.recording masks it before it is built):
no finding's text, no diff, no prompt. Losing one (Redis down when a review finishes) loses a line
of a page, never a review: the writer logs it and goes on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import redis

KEEP = 500
JOB_MARK_TTL_SECONDS = 7 * 24 * 3600
MAX_TEAM_CHARS = 200
STATUSES = ("reviewed", "partial", "failed", "skipped", "superseded", "dry-run")


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """What the pages show of one finished review job. Tokens and cost are what this job's own
    model calls spent (answers reused from an earlier attempt cost nothing again), as in the
    Prometheus counters."""

    job_id: str
    project_id: int
    iid: int
    status: str  # reviewed | partial | failed | skipped | superseded | dry-run
    started_at: float
    finished_at: float
    project: str = ""  # the project's path, masked
    title: str = ""  # masked
    web_url: str = ""  # masked
    team: str = ""  # the owner team from the catalog; "" when the review stopped before knowing it
    trigger: str = ""
    reason: str = ""  # why skipped or failed, masked
    tier: str | None = None
    verdict: str | None = None  # looks good | comments | changes requested, once reviews give one
    inline: int = 0
    in_summary: int = 0
    already_posted: int = 0
    findings: dict[str, int] = field(default_factory=dict)  # new findings by aspect
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    reused: int = 0  # model answers reused from the ones stored for this head
    failures: int = 0  # model calls that gave no findings
    unreviewed: int = 0  # files left for the next trigger
    prompt_versions: dict[str, str] = field(default_factory=dict)  # aspects of a call -> version
    head_sha: str = ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    def as_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ReviewRecord | None:
        """The record, or None for one this version cannot read (written by another version)."""
        try:
            data = json.loads(raw)
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class TeamTotals:
    """A team's reviews since its first record."""

    team: str
    reviews: int = 0
    by_status: Mapping[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    inline: int = 0
    in_summary: int = 0
    since: float | None = None
    last: float | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ReviewRecords:
    """The store; ``keep`` records per list."""

    def __init__(self, client: redis.Redis, *, keep: int = KEEP, prefix: str = "reviewer:records:") -> None:
        self._redis = client
        self._keep = keep
        self._prefix = prefix

    def add(self, record: ReviewRecord) -> bool:
        """Store ``record``; False when its job was recorded already."""
        if record.job_id and not self._redis.set(
            f"{self._prefix}job:{record.job_id}", b"1", nx=True, ex=JOB_MARK_TTL_SECONDS
        ):
            return False
        record = self._with_project(record)
        team = record.team[:MAX_TEAM_CHARS]
        raw = record.as_json().encode()
        totals = f"{self._prefix}totals:{team}"
        pipe = self._redis.pipeline(transaction=True)
        for key in (f"{self._prefix}recent", f"{self._prefix}team:{team}"):
            pipe.lpush(key, raw)
            pipe.ltrim(key, 0, self._keep - 1)
        pipe.zadd(f"{self._prefix}teams", {team: record.finished_at})
        pipe.hsetnx(totals, "since", repr(record.finished_at))
        pipe.hset(totals, "last", repr(record.finished_at))
        pipe.hincrby(totals, "reviews", 1)
        pipe.hincrby(totals, f"status:{record.status}", 1)
        for name in ("prompt_tokens", "completion_tokens", "inline", "in_summary"):
            pipe.hincrby(totals, name, int(getattr(record, name)))
        pipe.hincrbyfloat(totals, "cost", record.cost)
        pipe.execute()
        return True

    def _with_project(self, record: ReviewRecord) -> ReviewRecord:
        """``record`` with the project's path and team filled in from its last record when it has
        none, or remembered for the next one when it has both."""
        projects, key = f"{self._prefix}projects", str(record.project_id)
        if record.team and record.project:
            remembered = json.dumps({"team": record.team, "project": record.project})
            self._redis.hset(projects, key, remembered.encode())
            return record
        raw = self._redis.hget(projects, key)
        try:
            known = json.loads(raw) if raw else {}
            return replace(
                record,
                team=record.team or str(known["team"]),
                project=record.project or str(known["project"]),
            )
        except (ValueError, KeyError, TypeError):
            return record

    def recent(self, limit: int = 100, *, team: str | None = None) -> list[ReviewRecord]:
        """The newest records, of the installation or of one team."""
        key = f"{self._prefix}recent" if team is None else f"{self._prefix}team:{team[:MAX_TEAM_CHARS]}"
        raws = self._redis.lrange(key, 0, max(0, min(limit, self._keep)) - 1)
        return [r for r in map(ReviewRecord.from_json, raws) if r is not None]

    def teams(self) -> list[str]:
        """Every team with a record, the most recently reviewed first."""
        return [_text(t) for t in self._redis.zrevrange(f"{self._prefix}teams", 0, -1)]

    def totals(self, team: str) -> TeamTotals:
        data = {_text(k): _text(v) for k, v in self._redis.hgetall(f"{self._prefix}totals:{team}").items()}
        return TeamTotals(
            team=team,
            reviews=_int(data.get("reviews")),
            by_status={k[7:]: _int(v) for k, v in data.items() if k.startswith("status:")},
            prompt_tokens=_int(data.get("prompt_tokens")),
            completion_tokens=_int(data.get("completion_tokens")),
            cost=_float(data.get("cost")) or 0.0,
            inline=_int(data.get("inline")),
            in_summary=_int(data.get("in_summary")),
            since=_float(data.get("since")),
            last=_float(data.get("last")),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
