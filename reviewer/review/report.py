"""Reports of a local review (``reviewer review --diff FILE --format ...``).

- ``text``: for people, grouped by file (control characters of model text removed), then a
  one-line summary, the files not reviewed and what failed.
- ``json``: the findings contract of DESIGN.md: ``{"findings": [...]}`` whose items have exactly the
  model answer's fields (so the output validates against ``findings.ANSWER_SCHEMA`` and can serve
  as expected findings for ``reviewer eval``), plus ``tool``, ``tier``, ``usage``, ``skipped``,
  ``failures`` beside it.
- ``codequality``: GitLab's Code Quality report (``artifacts:reports:codequality``), the Code
  Climate subset GitLab reads: a JSON array of ``description``, ``check_name``, ``fingerprint``,
  ``severity`` (info, minor, major, critical, blocker) and ``location.path``/``location.lines.begin``
  (https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format).
- ``sarif``: SARIF 2.1.0 (OASIS), one run whose driver lists a rule per category and source.

Code Quality and SARIF locate findings in the new file. A finding on a removed line (side "old")
keeps its old-file number and says so in its text (and, in SARIF, in ``properties.side``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol
from urllib.parse import quote

from reviewer.review.findings import Finding, Severity, Side

__all__ = ["FORMATS", "ReportFormat", "fingerprint_of", "render_report"]

ReportFormat = Literal["text", "json", "codequality", "sarif"]
FORMATS: tuple[str, ...] = ("text", "json", "codequality", "sarif")
TOOL_NAME = "gitlab-ai-reviewer"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_CODEQUALITY_SEVERITY = {
    Severity.CRITICAL: "blocker",
    Severity.HIGH: "critical",
    Severity.MEDIUM: "major",
    Severity.LOW: "minor",
    Severity.INFO: "info",
}
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# Terminal control sequences in model text must not reach a terminal; keep newlines and tabs.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Skipped(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def reason(self) -> str: ...


class _Usage(Protocol):
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def cost(self) -> float: ...


def render_report(
    findings: Sequence[Finding],
    fmt: ReportFormat,
    *,
    skipped: Sequence[_Skipped] = (),
    tier: str | None = None,
    usage: _Usage | None = None,
    failures: Sequence[str] = (),
    tool_version: str = "0.1.0",
) -> str:
    """The findings of one review in format ``fmt``; raises ValueError for an unknown format."""
    ordered = sorted(findings, key=lambda f: (f.path, f.line, -f.severity.rank, f.title))
    context = _Context(skipped, None if tier is None else str(tier), usage, failures, tool_version)
    renderers: dict[str, Callable[[list[Finding], _Context], str]] = {
        "text": _text,
        "json": _json,
        "codequality": _codequality,
        "sarif": _sarif,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    return renderers[fmt](ordered, context)


class _Context:
    def __init__(
        self,
        skipped: Sequence[_Skipped],
        tier: str | None,
        usage: _Usage | None,
        failures: Sequence[str],
        tool_version: str,
    ) -> None:
        self.skipped = skipped
        self.tier = tier
        self.usage = usage
        self.failures = failures
        self.tool_version = tool_version


def fingerprint_of(finding: Finding) -> str:
    """The finding's own fingerprint, or one from what identifies it (for findings not yet placed)."""
    if finding.fingerprint:
        return finding.fingerprint
    parts = [finding.aspect, finding.path, finding.side.value, str(finding.line), finding.title]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _where(finding: Finding) -> str:
    end = f"-{finding.end_line}" if finding.end_line else ""
    return f"removed line {finding.line}{end}" if finding.side is Side.OLD else f"line {finding.line}{end}"


# -- text ------------------------------------------------------------------------------------


def _text(findings: list[Finding], ctx: _Context) -> str:
    lines: list[str] = []
    path = None
    for f in findings:
        if f.path != path:
            path = f.path
            lines += ["", _plain(path)] if lines else [_plain(path)]
        lines.append(f"  {_where(f)}: [{f.severity.value}] {f.aspect}: {_plain(f.title)}")
        if f.instruction:
            lines.append(f"    per the team's instruction '{_plain(f.instruction)}'")
        lines += [f"    {text}" for text in _plain(f.body).splitlines() if text.strip()]
        if f.suggestion:
            lines.append("    suggestion:")
            lines += [f"      {text}" for text in _plain(f.suggestion).splitlines()]
    lines += ["", _headline(findings, ctx)] if lines else [_headline(findings, ctx)]
    if ctx.skipped:
        lines.append(f"Not reviewed ({len(ctx.skipped)}):")
        lines += [f"  {_plain(s.path)}: {_plain(s.reason)}" for s in ctx.skipped]
    if ctx.failures:
        lines.append("Could not complete:")
        lines += [f"  {_plain(failure)}" for failure in ctx.failures]
    return "\n".join(lines) + "\n"


def _headline(findings: list[Finding], ctx: _Context) -> str:
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s.value}" for s in Severity if counts[s]]
    files = len({f.path for f in findings})
    head = (
        f"{len(findings)} finding{'s' if len(findings) != 1 else ''} ({', '.join(parts)}) in {files} "
        f"file{'s' if files != 1 else ''}"
        if findings
        else "No findings"
    )
    if ctx.tier:
        head += f"; tier {ctx.tier}"
    u = ctx.usage
    if u is not None and (u.prompt_tokens or u.completion_tokens):
        head += f"; {u.prompt_tokens} prompt + {u.completion_tokens} completion tokens, ${u.cost:.4f}"
    return head + "."


def _plain(text: str) -> str:
    return _CONTROL.sub("", text)


# -- json ------------------------------------------------------------------------------------


def _json(findings: list[Finding], ctx: _Context) -> str:
    document: dict[str, Any] = {
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "side": f.side.value,
                "end_line": f.end_line,
                "severity": f.severity.value,
                "category": f.aspect,
                "title": f.title,
                "body": f.body,
                "suggestion": f.suggestion,
                "confidence": f.confidence,
                "instruction": f.instruction,
            }
            for f in findings
        ],
        "tool": {"name": TOOL_NAME, "version": ctx.tool_version},
        "tier": ctx.tier,
        "usage": None
        if ctx.usage is None
        else {
            "prompt_tokens": ctx.usage.prompt_tokens,
            "completion_tokens": ctx.usage.completion_tokens,
            "cost": ctx.usage.cost,
        },
        "skipped": [{"path": s.path, "reason": s.reason} for s in ctx.skipped],
        "failures": list(ctx.failures),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# -- GitLab Code Quality ---------------------------------------------------------------------


def _codequality(findings: list[Finding], ctx: _Context) -> str:
    issues = []
    for f in findings:
        lines: dict[str, int] = {"begin": f.line}
        if f.end_line:
            lines["end"] = f.end_line
        where = f" (on removed line {f.line} of the old file)" if f.side is Side.OLD else ""
        issues.append(
            {
                "description": f"{f.title}{where}",
                "check_name": _rule_id(f),
                "fingerprint": fingerprint_of(f),
                "severity": _CODEQUALITY_SEVERITY[f.severity],
                "location": {"path": f.path, "lines": lines},
            }
        )
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _rule_id(finding: Finding) -> str:
    """``security``, ``style``: a model aspect; ``security/secrets``: a detector's findings."""
    return finding.aspect if finding.source == "model" else f"{finding.aspect}/{finding.source}"


# -- SARIF -----------------------------------------------------------------------------------


def _sarif(findings: list[Finding], ctx: _Context) -> str:
    rule_ids = sorted({_rule_id(f) for f in findings})
    index = {rule: i for i, rule in enumerate(rule_ids)}
    document = {
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": ctx.tool_version,
                        "rules": [_sarif_rule(rule) for rule in rule_ids],
                    }
                },
                "results": [_sarif_result(f, index) for f in findings],
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _sarif_rule(rule: str) -> dict[str, Any]:
    aspect, _, source = rule.partition("/")
    by = f"the {source} detector" if source else "the model"
    return {"id": rule, "name": rule, "shortDescription": {"text": f"{aspect} findings by {by}"}}


def _sarif_result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    region: dict[str, int] = {"startLine": f.line}
    if f.end_line:
        region["endLine"] = f.end_line
    text = f"{f.title}\n\n{f.body}" if f.body else f.title
    if f.side is Side.OLD:
        text += f"\n\n(On removed line {f.line} of the old file.)"
    rule = _rule_id(f)
    return {
        "ruleId": rule,
        "ruleIndex": index[rule],
        "level": _SARIF_LEVEL[f.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": quote(f.path)}, "region": region}}],
        "partialFingerprints": {"aiReviewFingerprint/v1": fingerprint_of(f)},
        "properties": {"severity": f.severity.value, "confidence": f.confidence, "side": f.side.value},
    }
