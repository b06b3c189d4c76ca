"""`reviewer eval` and `reviewer prompts`: a prompt change measured before it ships."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway

from reviewer.app.cli import main
from reviewer.app.config import SHIPPED_PROMPTS
from reviewer.errors import ConfigError
from reviewer.review.evaluation import load_cases

SHELL = "--- a/run.py\n+++ b/run.py\n@@ -1,2 +1,3 @@\n import os\n+os.system('ls ' + arg)\n x = 1\n"
CLEAN = "--- a/util.py\n+++ b/util.py\n@@ -1 +1,2 @@\n x = 1\n+print(x)\n"


def model(request: dict[str, Any]) -> str:
    """Finds the shell injection, and flags every print as well (a false positive)."""
    user = request["messages"][-1]["content"]
    path = re.search(r"^## (\S+)", user, re.M)
    findings = []
    for number, code in re.findall(r"^\s*(\d+) \+ (.*)$", user, re.M):
        if "os.system" in code or "print" in code:
            findings.append(
                {
                    "path": path.group(1) if path else "",
                    "line": int(number),
                    "side": "new",
                    "end_line": None,
                    "severity": "high",
                    "category": "security" if "os.system" in code else "style",
                    "title": "Shell injection" if "os.system" in code else "Debug print",
                    "body": "b",
                    "suggestion": None,
                    "confidence": 0.9,
                }
            )
    return json.dumps({"findings": findings})


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "shell.diff").write_text(SHELL)
    (folder / "shell.expected.yaml").write_text("findings:\n  - {path: run.py, line: 2, aspect: security}\n")
    (folder / "clean.diff").write_text(CLEAN)
    (folder / "clean.expected.json").write_text('{"findings": []}')
    return folder


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGateway]:
    with FakeGateway(responder=model) as server:
        monkeypatch.setenv("REVIEWER_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("REVIEWER_LLM_API_KEY", "k")
        yield server


def test_eval_reports_precision_and_recall(
    cases: Path, gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(cases)]) == 0
    out = capsys.readouterr().out
    (all_row,) = [line for line in out.splitlines() if line.startswith("all")]
    assert all_row.split()[1:] == ["0.50", "1.00", "1", "1", "0"]
    assert "extra   clean: util.py:2 style: Debug print" in out
    assert main(["eval", str(cases), "--min-precision", "0.9"]) == 1


def test_eval_compares_two_prompt_folders(
    cases: Path, gateway: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other-prompts"
    shutil.copytree(SHIPPED_PROMPTS, other)
    (other / "style.j2").write_text((other / "style.j2").read_text() + "Never flag print calls.\n")
    assert main(["eval", str(cases), "--compare-prompts", str(other)]) == 0
    versions = re.findall(r"^prompts .*security\+style (\w+)", capsys.readouterr().out, re.M)
    assert len(versions) == 2 and versions[0] != versions[1]


def test_a_case_without_its_expectations_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "lonely.diff").write_text(CLEAN)
    with pytest.raises(ConfigError, match=re.escape("lonely.expected.yaml")):
        load_cases(tmp_path)


def test_prompts_show_and_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(SHIPPED_PROMPTS, prompts)
    (prompts / "teams" / "payments.yaml").write_text("instructions: Money is Decimal.\nmin_severity: high\n")
    monkeypatch.setenv("REVIEWER_PROMPTS_DIR", str(prompts))
    assert main(["prompts", "show", "--team", "group:default/payments"]) == 0
    out = capsys.readouterr().out
    assert "Money is Decimal." in out and "teams/payments.yaml" in out
    assert main(["prompts", "check"]) == 0
    assert "ok   payments" in capsys.readouterr().out
    (prompts / "teams" / "broken.yaml").write_text("aspects: [poetry]\nmin_severity: high\n")
    assert main(["prompts", "check"]) == 1  # named; a review applies the rest of the file
    out = capsys.readouterr().out
    assert "WARN broken: not applied: teams/broken.yaml: aspects: unknown aspects 'poetry'" in out
