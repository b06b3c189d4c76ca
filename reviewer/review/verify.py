"""The second look: before anything is published, a review's candidate findings are checked in one
batched model call, each with the code at the head around its line; the answer keeps or drops
each, with a reason.

- Which findings: the model's (the deterministic detectors' never: a secret is not a matter of
  opinion, and its line must not be sent anyway), at or above ``min_severity``; the others are
  kept unchecked.
- The code: the file as the head has it (the texts the review read for its enclosing context),
  ``lines_around`` lines each side of the finding's lines (``>`` marks them); for a removed line,
  or a file whose text was not read, the diff's own lines around it. Every line is masked by the
  review's secret masker and by a scan of the lines sent.
- The answer: ``{"verdicts": [{"id", "keep", "reason"}]}``, asked for with the JSON schema and
  validated. A finding without a verdict is kept. An answer that fails or stays invalid keeps
  every finding, and says so.
- Stored like the review's other answers (per MR and head, keyed by the question), so a retried
  review does not ask again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reviewer.diff.parsing import DiffLine, FileDiff, FileStatus, Hunk, LineKind
from reviewer.diff.render import render_line
from reviewer.errors import ConfigError, GatewayRejected, TransientError
from reviewer.model.client import LLMClient
from reviewer.model.structured import strict_schema
from reviewer.model.usage import Usage
from reviewer.review.detectors.secrets import scan as scan_secrets
from reviewer.review.findings import Finding, Severity, Side
from reviewer.review.memory import AnswerStore, answer_key
from reviewer.review.prompts import PromptStore

__all__ = ["VERDICT_SCHEMA", "SecondLook", "SecondLookConfig", "second_look"]

log = logging.getLogger(__name__)

ASPECT = "second-look"  # the name its answers are stored under, beside the aspects'


@dataclass(frozen=True, slots=True)
class SecondLookConfig:
    enabled: bool = False
    model: str | None = None  # None: the review's lite model (or its default)
    min_severity: Severity = Severity.INFO  # findings below it are kept unchecked
    lines_around: int = 4


@dataclass(frozen=True, slots=True)
class SecondLook:
    """What the second look of one review did."""

    checked: int = 0  # findings sent to it
    dropped: tuple[tuple[Finding, str], ...] = ()  # with the reason the answer gave
    usage: Usage = field(default_factory=Usage)  # its call, stored or not
    spent: Usage = field(default_factory=Usage)  # its call, when made by this run
    problem: str = ""  # why it could not check: then every finding was kept
    reused: bool = False  # its answer came from the store


class _Verdict(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)

    id: int
    keep: bool
    reason: str = Field(default="", max_length=500)


class _Verdicts(BaseModel):
    verdicts: list[_Verdict]


VERDICT_SCHEMA: dict[str, Any] = _Verdicts.model_json_schema(mode="serialization")
_STRICT_SCHEMA = strict_schema(VERDICT_SCHEMA)


def second_look(
    findings: Sequence[Finding],
    *,
    llm: LLMClient,
    prompts: PromptStore,
    models: Sequence[str],
    files: Sequence[FileDiff],
    texts: Mapping[str, str | None],
    masker: Callable[[str], str],
    config: SecondLookConfig,
    metadata: Mapping[str, str | int | float | bool] | None = None,
    answers: AnswerStore | None = None,
) -> tuple[list[Finding], SecondLook]:
    """``findings`` less what the second look dropped (their order kept), and what it did."""
    candidates = [f for f in findings if f.source == "model" and f.severity.rank >= config.min_severity.rank]
    if not candidates:
        return list(findings), SecondLook()
    snippets = [_code_around(f, files, texts, config.lines_around) for f in candidates]
    mask = _with_scan(masker, snippets)
    listing = "\n\n".join(
        _entry(n, f, code, mask) for n, (f, code) in enumerate(zip(candidates, snippets, strict=True), 1)
    )
    try:
        prompt = prompts.render_second_look(listing)
    except ConfigError as exc:
        return list(findings), SecondLook(len(candidates), problem=f"{exc}: every finding was kept")
    key = answer_key(ASPECT, prompt.version, listing)
    stored = answers.get(key) if answers is not None else None
    known = _load(stored) if stored else None
    if known is not None:
        verdicts, usage = known
        spent, reused = Usage(), True
    else:
        try:
            completion = llm.complete(
                prompt.messages,
                models=list(models),
                metadata={**(metadata or {}), "prompt": prompt.version},
                json_schema=_STRICT_SCHEMA,
                schema_name="verdicts",
            )
        except (TransientError, GatewayRejected) as exc:
            problem = f"the second look failed ({mask(str(exc))}): every finding was kept"
            return list(findings), SecondLook(len(candidates), problem=problem)
        usage = spent = completion.usage
        reused = False
        parsed = _parse(completion.text, len(candidates))
        if isinstance(parsed, str):
            problem = f"the second look's answer was invalid ({parsed}): every finding was kept"
            return list(findings), SecondLook(len(candidates), usage=usage, spent=spent, problem=problem)
        verdicts = parsed
        if answers is not None:
            answers.put(key, json.dumps({"verdicts": verdicts, "usage": _usage_record(usage)}))
    dropped = {
        id(candidates[number - 1]): reason
        for number, (keep, reason) in verdicts.items()
        if not keep and 1 <= number <= len(candidates)
    }
    kept = [f for f in findings if id(f) not in dropped]
    gone = tuple((f, mask(dropped[id(f)])) for f in findings if id(f) in dropped)
    if gone:
        log.info("second look dropped %d of %d findings", len(gone), len(candidates))
    return kept, SecondLook(len(candidates), gone, usage, spent, reused=reused)


def _entry(number: int, finding: Finding, code: list[str], mask: Callable[[str], str]) -> str:
    end = f"-{finding.end_line}" if finding.end_line else ""
    head = (
        f"[{number}] {finding.path}:{finding.line}{end} ({finding.side.value} side) "
        f"{finding.severity.value} {finding.aspect}: {' '.join(finding.title.split())}"
    )
    lines = [mask(head), *(f"    {mask(line)}" for line in finding.body.strip().splitlines()[:3])]
    lines += ["  code:", *(mask(line) for line in code)] if code else ["  code: (not available)"]
    return "\n".join(lines)


def _code_around(
    finding: Finding, files: Sequence[FileDiff], texts: Mapping[str, str | None], around: int
) -> list[str]:
    """The lines around a finding, ``N> code`` on its own lines and ``N  code`` around them."""
    first, last = finding.line, max(finding.line, finding.end_line or finding.line)
    text = texts.get(finding.path) if finding.side is Side.NEW else None
    if text:
        lines = text.split("\n")
        low, high = max(1, first - around), min(len(lines), last + around)
        return [_numbered(n, lines[n - 1], first <= n <= last) for n in range(low, high + 1)]
    wanted = range(first - around, last + around + 1)
    shown = []
    for file in files:
        if finding.path not in (file.new_path, file.old_path):
            continue
        for hunk in file.hunks:
            for line in hunk.lines:
                number = line.old_no if finding.side is Side.OLD else line.new_no
                if number is not None and number in wanted:
                    marked = render_line(line).rstrip("\n")
                    shown.append(f"{'>' if first <= number <= last else ' '} {marked}")
    return shown


def _numbered(number: int, text: str, marked: bool) -> str:
    return f"{number:>5}{'>' if marked else ' '} {text}".rstrip()


def _with_scan(masker: Callable[[str], str], snippets: Sequence[Sequence[str]]) -> Callable[[str], str]:
    """The review's masker, and one for the secrets on the lines about to be sent."""
    lines = tuple(
        DiffLine(LineKind.CONTEXT, None, n, text)
        for n, text in enumerate((t for s in snippets for t in s), 1)
    )
    if not lines:
        return masker
    scanned = scan_secrets(
        [FileDiff("snippets", "snippets", FileStatus.MODIFIED, (Hunk(1, 0, 1, len(lines), lines),))]
    )
    return lambda text: scanned.masker(masker(text))


def _parse(text: str | None, count: int) -> dict[int, tuple[bool, str]] | str:
    """The verdicts by finding number, or what is wrong with the answer."""
    if not text or not text.strip():
        return "empty"
    try:
        answer = _Verdicts.model_validate_json(text.strip().removeprefix("```json").removesuffix("```"))
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'answer'}: {first['msg']}"
    verdicts: dict[int, tuple[bool, str]] = {}
    for verdict in answer.verdicts:
        if 1 <= verdict.id <= count:
            verdicts.setdefault(verdict.id, (verdict.keep, " ".join(verdict.reason.split())))
    return verdicts


def _usage_record(usage: Usage) -> dict[str, Any]:
    return {**asdict(usage), "unpriced": sorted(usage.unpriced)}


def _load(text: str) -> tuple[dict[int, tuple[bool, str]], Usage] | None:
    try:
        data = json.loads(text)
        verdicts = {int(k): (bool(v[0]), str(v[1])) for k, v in data["verdicts"].items()}
        usage = dict(data["usage"])
        return verdicts, Usage(**{**usage, "unpriced": frozenset(usage.get("unpriced", ()))})
    except (ValueError, KeyError, TypeError, IndexError):
        return None
