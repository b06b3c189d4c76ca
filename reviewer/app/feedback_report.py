"""What is made of the feedback on the bot's findings: ``reviewer stats`` (acceptance per team,
aspect, prompt version and model) and ``reviewer feedback export`` (judged findings as
``reviewer eval`` cases). Both read the bot's Redis: ``REVIEWER_REDIS_URL``, or the embedded Redis's
data in ``REVIEWER_STATE_DIR``."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from reviewer.app.config import Settings
from reviewer.app.conversation_state import ConversationState
from reviewer.app.feedback import FeedbackStore, Judged, team_name
from reviewer.app.state import opened
from reviewer.errors import ReviewerError
from reviewer.review.feedback import FeedbackVerdict, PostedFinding, eval_case


def judged(settings: Settings, *, team: str | None = None, since: str | None = None) -> list[Judged]:
    """The findings recorded (of ``team``, posted on or after the date ``since``), judged."""
    after = None
    if since:
        try:
            after = datetime.fromisoformat(since).timestamp()
        except ValueError:
            raise ReviewerError(f"--since {since!r}: give a date like 2026-05-01") from None
    with opened(settings.redis_url, settings.state_dir) as client:
        return list(FeedbackStore(client).judged(since=after, team=team))


def remembered_rules(settings: Settings, project_id: int) -> tuple[str, ...]:
    """The rules ``/ai-review remember`` stored for a project."""
    with opened(settings.redis_url, settings.state_dir) as client:
        return ConversationState(client).rules(project_id)


# -- reviewer stats -------------------------------------------------------------------------------


def stats_table(judged: Sequence[Judged]) -> str:
    """Acceptance per team, aspect, prompt version and model: findings posted, accepted (acted on
    or approved), dismissed, and the share of judged ones accepted."""
    rows: dict[tuple[str, str, str, str], Counter[str]] = {}
    for item in judged:
        f = item.finding
        key = (team_name(f.team), f.aspect, f.prompt_version or "-", f.model or f.category)
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
    hunks: dict[tuple[str, int, str], list[tuple[PostedFinding, FeedbackVerdict]]] = {}
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
