"""Feedback on the bot's findings, in Redis, and what is made of it: acceptance rates
(``reviewer stats``, the ``reviewer_finding_feedback`` counter) and eval cases
(``reviewer feedback export``).

Layout: one hash per posted finding, ``reviewer:feedback:{project}:{iid}:{fingerprint}``, holding
what it was posted as (``meta``: team, repository, aspect, category, severity, prompt version,
model, where, the hunk) and one field per signal people gave (``s:{signal}:{user}``), so that a
signal read again (a redelivered hook, a re-review reading the same thread) counts once; a sorted
set indexes the findings by the time they were posted. The counter counts each signal once, when
it first arrives; ``reviewer stats`` judges each finding from the signals it holds now.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from reviewer.app import metrics
from reviewer.review.feedback import (
    FeedbackEvent,
    PostedFinding,
    Signal,
    Verdict,
    eval_case,
    event_verdict,
    verdict,
)

log = logging.getLogger(__name__)

FEEDBACK_TTL_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Judged:
    finding: PostedFinding
    signals: dict[Signal, int]
    verdict: Verdict | None
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
            if team is not None and _team_name(finding.team) != _team_name(team):
                continue
            signals: Counter[Signal] = Counter()
            for field in data:
                parts = field.split(":")
                if parts[0] == "s" and len(parts) == 3 and parts[1] in Signal._value2member_map_:
                    signals[Signal(parts[1])] += 1
            iid = key.removeprefix(self._prefix).split(":")[1]
            yield Judged(finding, dict(signals), verdict(signals), int(iid) if iid.isdigit() else 0)


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


def _team_name(team: str) -> str:
    """'group:default/payments' and 'payments' name the same team."""
    return team.rsplit("/", 1)[-1].split(":")[-1]


# -- reviewer stats -------------------------------------------------------------------------------


def stats_table(judged: Sequence[Judged]) -> str:
    """Acceptance per team, aspect, prompt version and model: findings posted, accepted (acted on
    or approved), dismissed, and the share of judged ones accepted."""
    rows: dict[tuple[str, str, str, str], Counter[str]] = {}
    for item in judged:
        f = item.finding
        key = (_team_name(f.team), f.aspect, f.prompt_version or "-", f.model or f.category)
        row = rows.setdefault(key, Counter())
        row["posted"] += 1
        if item.verdict is not None:
            row[item.verdict.value] += 1
    lines = [_row("team", "aspect", "prompt", "model", None)]
    total: Counter[str] = Counter()
    for (team, aspect, version, model), row in sorted(rows.items()):
        total.update(row)
        lines.append(_row(team, aspect, version, model, row))
    lines.append(_row("all", "-", "-", "-", total))
    return "\n".join(lines)


def _row(team: str, aspect: str, version: str, model: str, row: Counter[str] | None) -> str:
    if row is None:
        numbers = ("posted", "accepted", "dismissed", "rate")
    else:
        judged = row["accepted"] + row["dismissed"]
        rate = f"{row['accepted'] / judged:.0%}" if judged else "-"
        numbers = (str(row["posted"]), str(row["accepted"]), str(row["dismissed"]), rate)
    return (
        f"{team[:20]:<20} {aspect[:9]:<9} {version[:13]:<13} {model[:24]:<24} "
        f"{numbers[0]:>6} {numbers[1]:>8} {numbers[2]:>9} {numbers[3]:>6}"
    )


# -- reviewer feedback export ---------------------------------------------------------------------


def export_cases(judged: Sequence[Judged], folder: Path) -> Counter[str]:
    """Write the judged findings as ``reviewer eval`` cases in ``folder``, one per hunk they stand
    on (``PROJECT-IID-HASH.diff`` and ``.expected.yaml``); returns how many findings of each
    verdict went into them (a finding whose hunk was not kept is left out)."""
    hunks: dict[tuple[str, int, str], list[tuple[PostedFinding, Verdict]]] = {}
    for item in judged:
        if item.verdict is not None and item.finding.diff:
            key = (item.finding.project, item.iid, item.finding.diff)
            hunks.setdefault(key, []).append((item.finding, item.verdict))
    folder.mkdir(parents=True, exist_ok=True)
    written: Counter[str] = Counter()
    for (project, iid, diff), findings in hunks.items():
        case = eval_case(findings)
        if case is None:
            continue
        name = f"{_slug(project)}-{iid}-{hashlib.sha256(diff.encode()).hexdigest()[:10]}"
        (folder / f"{name}.diff").write_text(case[0], encoding="utf-8")
        (folder / f"{name}.expected.yaml").write_text(case[1], encoding="utf-8")
        written.update(v.value for _, v in findings)
    return written


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "project"
