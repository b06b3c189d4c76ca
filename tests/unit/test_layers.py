"""The layer rules that import-linter cannot see (its contracts are in pyproject.toml and run in
``make test``): what a fresh interpreter loads, and who reads the environment."""

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
    # Also through third-party packages, which the import contracts do not follow.
    loaded = _modules_after_import("reviewer.pipeline")
    assert not {m for m in loaded if m.split(".")[0] in {"celery", "kombu", "starlette", "uvicorn"}}


def test_only_the_config_module_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(REVIEWER))
        for path in REVIEWER.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|load_dotenv", path.read_text())
    }
    assert readers <= {"app/config.py"}


def test_nothing_under_reviewer_imports_workers_and_the_cli_loads_no_celery() -> None:
    for path in REVIEWER.rglob("*.py"):
        assert not re.search(r"^\s*(import|from) workers\b", path.read_text(), re.M), path
    loaded = _modules_after_import("reviewer.app.cli")
    assert not {m for m in loaded if m.split(".")[0] in {"workers", "celery", "kombu"}}
