"""Every module has a test file named after it, or tests/README.md says where it is tested."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def test_every_module_has_its_test_file_or_a_line_in_the_readme() -> None:
    test_files = {path.name for path in TESTS.rglob("test_*.py")}
    listed = dict(re.findall(r"^- `(reviewer/[\w/]+\.py)`: (.+)$", (TESTS / "README.md").read_text(), re.M))
    modules = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "reviewer").rglob("*.py")
        if path.name != "__init__.py"
    ]

    untested = [
        m for m in modules if f"test_{Path(m).stem.lstrip('_')}.py" not in test_files and m not in listed
    ]

    assert untested == []
    assert set(listed) <= set(modules), "tests/README.md lists a module that is gone"
    for module, where in listed.items():
        for name in re.findall(r"test_\w+\.py", where):
            assert name in test_files, f"{module}: {name} does not exist"
