"""What people did with the bot's findings, as data: what was posted (recorded when it is posted,
so a finding's team, aspect, prompt version and model are known from its fingerprint later), the
signals people gave, the verdict they add up to, and an eval case made of a judged finding.

Signals and the verdict they give a finding (the first that applies):

- dismissed: someone said so in its thread (``/ai-review ignore``, "false positive", "won't fix",
  or an argument the bot agreed with);
- accepted: its suggestion was applied, its line was changed (the bot resolved the thread), or a
  person resolved the thread;
- thumbs: more thumbs up than down is accepted, more down than up is dismissed;
- otherwise no verdict yet.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from reviewer.diff.parsing import FileDiff, FileStatus, Hunk, LineKind
from reviewer.review.findings import Finding, Side

MAX_DIFF_CHARS = 20_000  # an eval case is one hunk; a longer one is not kept


class Signal(StrEnum):
    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"
    RESOLVED = "resolved"  # a person resolved the thread
    FIXED = "fixed"  # the line changed and the bot resolved the thread
    APPLIED = "applied"  # the line now reads as the suggestion said
    DISMISSED = "dismissed"  # ignore command, "false positive"/"won't fix" reply, or conceded


class FeedbackVerdict(StrEnum):
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """One signal about one finding; ``user_id`` for what a person did (a reaction counts once per
    person, ``present=False`` takes it back)."""

    fingerprint: str
    signal: Signal
    user_id: int | None = None
    present: bool = True


@dataclass(frozen=True, slots=True)
class PostedFinding:
    """A finding as it was posted, with what it is counted by."""

    fingerprint: str
    team: str
    project: str
    aspect: str
    category: str  # the aspect for the model's findings, the detector's name for a detector's
    severity: str
    prompt_version: str
    model: str
    path: str
    line: int
    side: str
    title: str
    body: str = ""
    suggestion: str | None = None
    head_sha: str = ""
    diff: str = ""  # the hunk it stands on, as a unified diff (masked): an eval case's input
    posted_at: float = field(default_factory=time.time)

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PostedFinding:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in record.items() if k in known})


def feedback_verdict(signals: Mapping[Signal, int]) -> FeedbackVerdict | None:
    """The verdict of a finding from how many times each signal was given (see the module doc)."""
    if signals.get(Signal.DISMISSED):
        return FeedbackVerdict.DISMISSED
    if signals.get(Signal.APPLIED) or signals.get(Signal.FIXED) or signals.get(Signal.RESOLVED):
        return FeedbackVerdict.ACCEPTED
    up, down = signals.get(Signal.THUMBS_UP, 0), signals.get(Signal.THUMBS_DOWN, 0)
    if up != down:
        return FeedbackVerdict.ACCEPTED if up > down else FeedbackVerdict.DISMISSED
    return None


def event_verdict(signal: Signal) -> FeedbackVerdict:
    """Which way one signal leans (for counting signals as they arrive)."""
    dismissing = signal in (Signal.DISMISSED, Signal.THUMBS_DOWN)
    return FeedbackVerdict.DISMISSED if dismissing else FeedbackVerdict.ACCEPTED


def posted_findings(
    findings: Iterable[Finding],
    files: Sequence[FileDiff],
    *,
    team: str,
    project: str,
    head_sha: str,
    prompt_versions: Mapping[str, str],
    models: Mapping[str, str],
    mask: Any = str,
) -> list[PostedFinding]:
    """What to record of findings just posted: ``prompt_versions`` and ``models`` are keyed by the
    aspect or aspects a model call reviewed (``"security+style"``)."""
    by_path = {f.new_path: f for f in files} | {f.old_path: f for f in files}
    now = time.time()
    out = []
    for finding in findings:
        if not finding.fingerprint:
            continue
        group = _group_of(finding.aspect, prompt_versions) if finding.source == "model" else None
        file = by_path.get(finding.path)
        out.append(
            PostedFinding(
                fingerprint=finding.fingerprint,
                team=team,
                project=project,
                aspect=finding.aspect,
                category=finding.aspect if finding.source == "model" else finding.source,
                severity=finding.severity.value,
                prompt_version=prompt_versions.get(group, "") if group else "",
                model=models.get(group, "") if group else "",
                path=finding.path,
                line=finding.line,
                side=finding.side.value,
                title=finding.title,
                body=finding.body,
                suggestion=finding.suggestion,
                head_sha=head_sha,
                diff=mask(hunk_diff(file, finding.line, finding.side)) if file is not None else "",
                posted_at=now,
            )
        )
    return out


def _group_of(aspect: str, keyed: Mapping[str, str]) -> str | None:
    if aspect in keyed:
        return aspect
    return next((key for key in keyed if aspect in key.split("+")), None)


def hunk_diff(file: FileDiff, line: int, side: Side) -> str:
    """The hunk of ``file`` holding ``line`` (on ``side``) as a unified diff with file headers;
    empty when no hunk holds it or it is too long to keep."""
    hunk = next((h for h in file.hunks if _holds(h, line, side)), None)
    if hunk is None:
        return ""
    old = "/dev/null" if file.status is FileStatus.ADDED else f"a/{file.old_path}"
    new = "/dev/null" if file.status is FileStatus.DELETED else f"b/{file.new_path}"
    marks = {LineKind.ADDED: "+", LineKind.REMOVED: "-", LineKind.CONTEXT: " "}
    header = f"@@ -{hunk.old_start},{hunk.old_len} +{hunk.new_start},{hunk.new_len} @@"
    lines = [f"--- {old}", f"+++ {new}", f"{header} {hunk.section}".rstrip()]
    lines += [marks[ln.kind] + ln.text for ln in hunk.lines]
    text = "\n".join(lines) + "\n"
    return text if len(text) <= MAX_DIFF_CHARS else ""


def _holds(hunk: Hunk, line: int, side: Side) -> bool:
    numbers = (ln.new_no if side is Side.NEW else ln.old_no for ln in hunk.lines)
    return line in numbers


def eval_case(judged: Sequence[tuple[PostedFinding, FeedbackVerdict]]) -> tuple[str, str] | None:
    """A ``reviewer eval`` case (``NAME.diff``, ``NAME.expected.yaml``) of the judged findings of
    one hunk (they share ``diff``): the accepted ones are expected there, the dismissed ones are
    not (a prompt that raises them again scores a false positive). None when the hunk was not kept."""
    if not judged or not judged[0][0].diff:
        return None
    expected = [
        {"path": f.path, "line": f.line, "side": f.side, "aspect": f.aspect}
        for f, v in judged
        if v is FeedbackVerdict.ACCEPTED
    ]
    first = judged[0][0]
    spec = {
        "title": f"{first.project}: {len(expected)} accepted, {len(judged) - len(expected)} dismissed",
        "findings": expected,
        "judged": [
            {
                "verdict": v.value,
                "title": f.title,
                "line": f.line,
                "team": f.team,
                "prompt_version": f.prompt_version,
                "model": f.model,
                "fingerprint": f.fingerprint,
            }
            for f, v in judged
        ],
    }
    return first.diff, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
