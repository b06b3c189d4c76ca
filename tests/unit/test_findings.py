from __future__ import annotations

import json

import pytest

from reviewer.errors import ModelOutputInvalid
from reviewer.review.findings import Finding, Severity, Side, Thresholds, fingerprint, parse_answer, select


def _item(**over: object) -> dict[str, object]:
    base = {
        "path": "app/db.py",
        "line": 42,
        "side": "new",
        "severity": "high",
        "category": "security",
        "title": "SQL built by string formatting",
        "body": "Use parameters.",
        "confidence": 0.9,
    }
    return {**base, **over}


def test_a_valid_answer_becomes_findings_of_the_aspect() -> None:
    parsed = parse_answer(json.dumps({"findings": [_item(end_line=44, suggestion="x")]}), "security")
    (finding,) = parsed.findings
    assert (finding.aspect, finding.path, finding.line, finding.end_line) == ("security", "app/db.py", 42, 44)
    assert finding.severity is Severity.HIGH and finding.side is Side.NEW and parsed.rejected == ()


def test_a_partly_valid_answer_keeps_its_valid_findings() -> None:
    answer = {"findings": [_item(), _item(line=0), _item(severity="catastrophic"), "nonsense", _item(line=7)]}
    parsed = parse_answer(json.dumps(answer), "security")
    assert [f.line for f in parsed.findings] == [42, 7]
    assert len(parsed.rejected) == 3


def test_fenced_json_and_a_bare_list_are_accepted() -> None:
    assert parse_answer("```json\n" + json.dumps({"findings": [_item()]}) + "\n```", "style").findings
    assert parse_answer(json.dumps([_item()]), "style").findings


@pytest.mark.parametrize(
    "text", ["", "   ", "I found no issues!", '{"findings": 3}', '{"other": []}', "null"]
)
def test_garbage_raises_model_output_invalid(text: str) -> None:
    with pytest.raises(ModelOutputInvalid):
        parse_answer(text, "security")


@pytest.mark.parametrize("category", [None, "absent"])
def test_a_finding_without_category_is_accepted_for_a_single_aspect(category: str | None) -> None:
    item = _item(category=category)
    if category == "absent":
        del item["category"]
    (finding,) = parse_answer(json.dumps({"findings": [item]}), "style").findings
    assert finding.aspect == "style"


def test_end_line_before_line_is_dropped() -> None:
    (finding,) = parse_answer(json.dumps({"findings": [_item(end_line=40)]}), "security").findings
    assert finding.end_line is None


def _f(
    line: int, severity: Severity = Severity.MEDIUM, title: str = "t", confidence: float = 0.9, fp: str = ""
) -> Finding:
    return Finding(
        "style", severity, "a.py", line, Side.NEW, title, "b", confidence=confidence, fingerprint=fp
    )


def test_fingerprint_survives_line_shifts_but_not_text_changes() -> None:
    a = fingerprint(_f(10), ["x = eval(data)"])
    assert a == fingerprint(_f(99), ["x  =  eval(data)"])
    assert a != fingerprint(_f(10), ["x = eval(other)"])
    assert a != fingerprint(_f(10, title="other"), ["x = eval(data)"])


def test_select_drops_duplicates_and_below_threshold_then_caps_most_severe_first() -> None:
    findings = [
        _f(1, Severity.LOW, "low one"),
        _f(2, Severity.CRITICAL, "crit", fp="aa"),
        _f(3, Severity.HIGH, "dup", fp="bb"),
        _f(3, Severity.MEDIUM, "dup", fp="bb"),
        _f(4, Severity.INFO, "info"),
        _f(5, Severity.HIGH, "unsure", confidence=0.2),
        _f(6, Severity.MEDIUM, "same line same title"),
        _f(6, Severity.HIGH, "Same  line same title"),
    ]
    kept, over = select(findings, Thresholds(Severity.LOW, 0.5, 3))
    assert [(f.line, f.severity) for f in kept] == [
        (2, Severity.CRITICAL),
        (3, Severity.HIGH),
        (6, Severity.HIGH),
    ]
    assert [f.line for f in over] == [1]


def test_a_suggestion_keeps_its_indentation() -> None:
    answer = {"findings": [_item(suggestion="    return cursor.execute(q, (name,))\n", title="  t  ")]}
    (finding,) = parse_answer(json.dumps(answer), "security").findings
    assert finding.suggestion == "    return cursor.execute(q, (name,))"
    assert finding.title == "t"
