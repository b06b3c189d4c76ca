"""reviewer.review.report: text, JSON (the findings contract), GitLab Code Quality and SARIF 2.1.0."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reviewer.model.structured import strict_schema
from reviewer.model.usage import Usage
from reviewer.review.findings import ANSWER_SCHEMA, Finding, Severity, Side, parse_answer
from reviewer.review.planning import Skipped, Tier
from reviewer.review.report import render_report

FINDINGS = [
    Finding(
        aspect="security",
        severity=Severity.HIGH,
        path="app/db.py",
        line=42,
        side=Side.NEW,
        end_line=44,
        title="SQL built by string formatting",
        body="Use bound parameters.",
        suggestion='cur.execute("SELECT * FROM t WHERE id = %s", (id,))',
        confidence=0.9,
        fingerprint="fp-db",
    ),
    Finding(
        aspect="style",
        severity=Severity.LOW,
        path="app/db.py",
        line=7,
        side=Side.OLD,
        title="Removed docstring",
        body="Keep the docstring.",
        confidence=0.6,
    ),
    Finding(
        aspect="security",
        severity=Severity.CRITICAL,
        path="deploy/my settings.py",
        line=3,
        side=Side.NEW,
        title="AWS Access Key committed",
        body="Rotate it.",
        source="secrets",
    ),
    Finding(
        aspect="style",
        severity=Severity.INFO,
        path="README.md",
        line=1,
        side=Side.NEW,
        title="Typo",
        body="",
        confidence=0.5,
    ),
]


def render(fmt: str, findings: list[Finding] = FINDINGS, **kwargs: Any) -> str:
    return render_report(findings, fmt, **kwargs)  # type: ignore[arg-type]


def test_json_items_have_exactly_the_contracts_fields_and_types() -> None:
    usage = Usage(prompt_tokens=900, completion_tokens=80)
    document = json.loads(render("json", tier=Tier.FULL, usage=usage))
    item_schema = strict_schema(ANSWER_SCHEMA)["properties"]["findings"]["items"]
    types: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "null": (type(None),),
    }

    assert len(document["findings"]) == 4
    for item in document["findings"]:
        assert set(item) == set(item_schema["required"])
        for key, spec in item_schema["properties"].items():
            allowed = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            assert isinstance(item[key], tuple(t for name in allowed for t in types[name])), key
            assert "enum" not in spec or item[key] in spec["enum"]
    assert document["tier"] == "full"
    assert document["usage"]["prompt_tokens"] == 900
    assert document["tool"] == {"name": "gitlab-ai-reviewer", "version": "0.1.0"}


def test_json_reads_back_as_a_valid_model_answer() -> None:
    parsed = parse_answer(render("json"), aspect="any")

    assert parsed.rejected == ()
    assert [(f.path, f.line, f.side, f.severity) for f in parsed.findings] == [
        ("README.md", 1, Side.NEW, Severity.INFO),
        ("app/db.py", 7, Side.OLD, Severity.LOW),
        ("app/db.py", 42, Side.NEW, Severity.HIGH),
        ("deploy/my settings.py", 3, Side.NEW, Severity.CRITICAL),
    ]


def test_json_lists_skipped_files_and_failures() -> None:
    skipped = [Skipped("yarn.lock", "lock file")]
    document = json.loads(render("json", skipped=skipped, failures=["style: timeout"]))

    assert document["skipped"] == [{"path": "yarn.lock", "reason": "lock file"}]
    assert document["failures"] == ["style: timeout"]


def test_codequality_is_an_array_of_issues_gitlab_reads() -> None:
    issues = json.loads(render("codequality"))

    assert isinstance(issues, list) and len(issues) == 4
    for issue in issues:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(issue)
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert isinstance(issue["location"]["path"], str)
        begin = issue["location"]["lines"]["begin"]
        assert isinstance(begin, int) and begin >= 1
    assert len({i["fingerprint"] for i in issues}) == 4


def test_codequality_maps_our_severities_and_keeps_given_fingerprints() -> None:
    by_title = {i["description"].split(" (")[0]: i for i in json.loads(render("codequality"))}

    assert by_title["AWS Access Key committed"]["severity"] == "blocker"
    assert by_title["AWS Access Key committed"]["check_name"] == "security/secrets"
    assert by_title["SQL built by string formatting"]["severity"] == "critical"
    assert by_title["SQL built by string formatting"]["fingerprint"] == "fp-db"
    assert by_title["SQL built by string formatting"]["location"]["lines"] == {"begin": 42, "end": 44}
    assert by_title["Removed docstring"]["severity"] == "minor"
    assert by_title["Removed docstring"]["description"].endswith("(on removed line 7 of the old file)")
    assert by_title["Typo"]["severity"] == "info"


def test_sarif_has_the_required_structure() -> None:
    document = json.loads(render("sarif"))

    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-2.1.0.json")
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "gitlab-ai-reviewer" and driver["version"] == "0.1.0"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == ["security", "security/secrets", "style"]
    assert all(rule["shortDescription"]["text"] for rule in driver["rules"])
    assert len(run["results"]) == 4
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note"}
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"]
        assert physical["region"]["startLine"] >= 1
        assert result["partialFingerprints"]


def test_sarif_levels_locations_and_old_side() -> None:
    (run,) = json.loads(render("sarif"))["runs"]
    results = {r["message"]["text"].split("\n")[0]: r for r in run["results"]}

    secret = results["AWS Access Key committed"]
    assert secret["level"] == "error"
    assert secret["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "deploy/my%20settings.py"
    assert results["SQL built by string formatting"]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 42,
        "endLine": 44,
    }
    removed = results["Removed docstring"]
    assert removed["level"] == "note"
    assert removed["properties"]["side"] == "old"
    assert "removed line 7" in removed["message"]["text"]


def test_text_groups_findings_by_file_and_ends_with_a_summary() -> None:
    text = render("text", tier="lite", skipped=[Skipped("yarn.lock", "lock file (yarn.lock)")])

    assert text.splitlines()[:8] == [
        "README.md",
        "  line 1: [info] style: Typo",
        "",
        "app/db.py",
        "  removed line 7: [low] style: Removed docstring",
        "    Keep the docstring.",
        "  line 42-44: [high] security: SQL built by string formatting",
        "    Use bound parameters.",
    ]
    assert "4 findings (1 critical, 1 high, 1 low, 1 info) in 3 files; tier lite." in text
    assert "  yarn.lock: lock file (yarn.lock)" in text


def test_text_strips_terminal_control_sequences_from_model_text() -> None:
    finding = Finding(
        aspect="style",
        severity=Severity.LOW,
        path="a.py",
        line=1,
        side=Side.NEW,
        title="\x1b]0;pwned\x07Rename x",
        body="\x1b[2Jwhy",
    )

    text = render("text", [finding])

    assert "\x1b" not in text and "\x07" not in text
    assert "Rename x" in text


def test_no_findings_make_a_short_report_in_every_format() -> None:
    assert render("text").count("\n") > 1
    assert render("text", []) == "No findings.\n"
    assert json.loads(render("json", []))["findings"] == []
    assert json.loads(render("codequality", [])) == []
    assert json.loads(render("sarif", []))["runs"][0]["results"] == []


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format 'xml'"):
        render("xml")
