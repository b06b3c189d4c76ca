"""Findings: the model-answer schema, validation, fingerprints, and the merge that keeps reviews quiet.

The answer contract (DESIGN.md) is one JSON object ``{"findings": [...]}``. Each item is validated
on its own, so one bad item costs that item, not the answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reviewer.errors import ModelOutputInvalid


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe: critical 4 ... info 0."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Side(StrEnum):
    NEW = "new"  # added and unchanged lines, numbered in the new file
    OLD = "old"  # removed lines, numbered in the old file


@dataclass(frozen=True, slots=True)
class Finding:
    aspect: str
    severity: Severity
    path: str
    line: int
    side: Side
    title: str
    body: str
    end_line: int | None = None
    suggestion: str | None = None
    confidence: float = 1.0
    fingerprint: str = ""
    source: str = "model"  # "model", or the detector's name
    anchor: str = ""  # code_hash of the line it is anchored on: while that line is in the diff, it stands
    instruction: str | None = None  # the name of the team's instruction the finding follows


# One finding of the answer contract (DESIGN.md). The answer schema is this model's serialization
# schema, where every field is required (end_line and suggestion may be null); validation is more
# forgiving and fills in a missing side, category, body or confidence. No docstring: it would
# become the schema's description, sent with every call.
class _AnswerItem(BaseModel):
    # no blanket strip: a suggestion's indentation is code
    model_config = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)

    path: str = Field(min_length=1, max_length=1000)
    line: int = Field(ge=1)
    side: Literal["new", "old"] = "new"
    end_line: int | None = Field(default=None, ge=1)
    severity: Severity
    category: str = ""  # names the aspect; needed when one call reviews several
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=8000)
    suggestion: str | None = Field(default=None, max_length=8000)
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    instruction: str | None = Field(default=None, max_length=200)  # optional: a named team instruction

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("path", "title", "body", "category", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("category", mode="before")
    @classmethod
    def _null_is_none_given(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("instruction", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("suggestion", mode="before")
    @classmethod
    def _only_trailing_newlines(cls, value: Any) -> Any:
        return value.rstrip("\r\n") if isinstance(value, str) else value


class _Answer(BaseModel):
    findings: list[_AnswerItem]


ANSWER_SCHEMA: dict[str, Any] = _Answer.model_json_schema(mode="serialization")
"""The findings answer as JSON Schema, generated from the model that validates it
(``reviewer.model.structured.strict_schema`` turns it into what OpenAI's strict mode takes)."""


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    findings: tuple[Finding, ...]
    rejected: tuple[str, ...]  # one reason per item that did not validate


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.S)


def parse_answer(text: str | None, aspect: str) -> ParsedAnswer:
    """Validate a model answer. Raises ModelOutputInvalid when nothing of it is usable.

    Items that fail validation are dropped one by one (and reported in ``rejected``), so a partly
    valid answer keeps its valid findings. ``aspect`` may name several aspects reviewed in one
    call (``"security+style"``): each finding's ``category`` then says which one it belongs to.
    """
    aspects = aspect.split("+")
    if not text or not text.strip():
        raise ModelOutputInvalid("empty answer")
    fenced = _FENCE.match(text)
    raw = fenced.group(1) if fenced else text
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelOutputInvalid(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(data, list):
        data = {"findings": data}
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise ModelOutputInvalid('not an object with a "findings" list')
    findings: list[Finding] = []
    rejected: list[str] = []
    for index, item in enumerate(data["findings"]):
        try:
            parsed = _AnswerItem.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "item"
            rejected.append(f"finding {index}: {where}: {first['msg']}")
            continue
        end_line = parsed.end_line if parsed.end_line and parsed.end_line > parsed.line else None
        findings.append(
            Finding(
                aspect=_aspect_of(parsed.category, aspects),
                severity=parsed.severity,
                path=parsed.path,
                line=parsed.line,
                side=Side(parsed.side),
                end_line=end_line,
                title=parsed.title,
                body=parsed.body,
                suggestion=parsed.suggestion or None,
                confidence=parsed.confidence,
                instruction=parsed.instruction,
            )
        )
    return ParsedAnswer(tuple(findings), tuple(rejected))


def _aspect_of(category: str, aspects: list[str]) -> str:
    """The aspect a finding belongs to; in a combined call an unknown category counts as the
    last aspect (style: the general one)."""
    if len(aspects) == 1:
        return aspects[0]
    wanted = category.lower()
    return wanted if wanted in aspects else aspects[-1]


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def code_hash(text: str) -> str:
    """A short hash of one line's normalised text: is the line a finding was about still there?"""
    return hashlib.sha256(_normalise(text).encode()).hexdigest()[:12]


def fingerprint(finding: Finding, anchored_text: Sequence[str]) -> str:
    """A stable id that survives line shifts: aspect, path, the anchored lines' text and the title."""
    material = "\x1f".join(
        [finding.aspect, finding.path, *(_normalise(t) for t in anchored_text), _normalise(finding.title)]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_severity: Severity = Severity.LOW
    min_confidence: float = 0.5
    max_comments: int = 10


def select(findings: Iterable[Finding], thresholds: Thresholds) -> tuple[list[Finding], list[Finding]]:
    """Merge findings across chunks and aspects: drop duplicates and what is below the thresholds,
    then keep the most severe up to the cap. Returns (kept, dropped_by_cap).

    Two findings are duplicates when they share a fingerprint, or sit on the same line with the
    same normalised title; the more severe (then more confident) one stays.
    """
    seen: set[tuple[str, ...]] = set()
    unique: list[Finding] = []
    for f in sorted(findings, key=_order):  # the best of each duplicate group comes first
        if f.severity.rank < thresholds.min_severity.rank or f.confidence < thresholds.min_confidence:
            continue
        keys: list[tuple[str, ...]] = [("line", f.path, f.side.value, str(f.line), _normalise(f.title))]
        if f.fingerprint:
            keys.append(("fp", f.fingerprint))
        if seen.isdisjoint(keys):
            unique.append(f)
        seen.update(keys)
    return unique[: thresholds.max_comments], unique[thresholds.max_comments :]


def _order(f: Finding) -> tuple[int, float, str, int]:
    return (-f.severity.rank, -f.confidence, f.path, f.line)


def to_record(finding: Finding) -> dict[str, Any]:
    """A finding as plain JSON data, for what the bot remembers between reviews."""
    return {
        "aspect": finding.aspect,
        "severity": finding.severity.value,
        "path": finding.path,
        "line": finding.line,
        "side": finding.side.value,
        "title": finding.title,
        "body": finding.body,
        "end_line": finding.end_line,
        "suggestion": finding.suggestion,
        "confidence": finding.confidence,
        "fingerprint": finding.fingerprint,
        "source": finding.source,
        "anchor": finding.anchor,
        "instruction": finding.instruction,
    }


def from_record(record: dict[str, Any]) -> Finding:
    return Finding(**{**record, "severity": Severity(record["severity"]), "side": Side(record["side"])})


def with_fingerprint(finding: Finding, anchored_text: Sequence[str], *, on_a_line: bool = True) -> Finding:
    """The finding with its fingerprint and, when it sits on a diff line, that line's code hash."""
    anchor = code_hash(anchored_text[0]) if on_a_line and anchored_text else ""
    return replace(finding, fingerprint=fingerprint(finding, anchored_text), anchor=anchor)
