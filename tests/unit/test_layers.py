"""The layer rules of reviewer/__init__.py, kept by tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REVIEWER = Path(__file__).resolve().parents[2] / "reviewer"


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_engine_imports_without_celery_or_a_web_framework() -> None:
    loaded = _modules_after_import("reviewer.pipeline")
    assert not {m for m in loaded if m.split(".")[0] in {"celery", "kombu", "starlette", "uvicorn"}}


def test_only_the_config_module_reads_the_environment() -> None:
    readers = {
        path.name
        for path in REVIEWER.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|load_dotenv", path.read_text())
    }
    assert readers <= {"config.py"}


def test_only_the_gitlab_package_imports_python_gitlab_and_only_the_model_package_openai() -> None:
    for path in REVIEWER.rglob("*.py"):
        text = path.read_text()
        if re.search(r"^\s*(import gitlab|from gitlab)\b", text, re.M):
            assert path.relative_to(REVIEWER).parts[0] == "gitlab", path
        if re.search(r"^\s*(import openai|from openai)\b", text, re.M):
            assert path.relative_to(REVIEWER).parts[0] == "model", path


def test_nothing_under_reviewer_imports_workers_and_the_cli_loads_no_celery() -> None:
    for path in REVIEWER.rglob("*.py"):
        assert not re.search(r"^\s*(import|from) workers\b", path.read_text(), re.M), path
    loaded = _modules_after_import("reviewer.app.cli")
    assert not {m for m in loaded if m.split(".")[0] in {"workers", "celery", "kombu"}}
