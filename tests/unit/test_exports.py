"""Each package's ``__all__`` is honest, after httpx's tests/test_exported_members.py: sorted, public,
every name resolves, the type checkers' imports agree with what the package gives at run time, and
every name the other packages import from one of its modules is listed."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(
    ".".join(init.parent.relative_to(ROOT).parts)
    for top in ("reviewer", "workers")
    for init in (ROOT / top).rglob("__init__.py")
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str) -> str:
    return max((p for p in PACKAGES if module == p or module.startswith(p + ".")), key=len)


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def _type_checking_imports(package: str) -> dict[str, str]:
    """Name -> module, for the ``from m import name`` lines under ``if TYPE_CHECKING:``."""
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    found: dict[str, str] = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for line in node.body:
                assert isinstance(line, ast.ImportFrom) and line.module, ast.unparse(line)
                found.update({alias.name: line.module for alias in line.names})
    return found


def _imported_from_outside(package: str) -> set[str]:
    """Names that modules outside ``package`` import from its modules (``from package.m import x``).
    For the root package, outside means in another package; for ``workers``, nobody under reviewer/
    may import it at all (pyproject.toml's contracts), so it is not counted here."""
    names: set[str] = set()
    for path in (ROOT / "reviewer").rglob("*.py"):
        importer = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            target, _, module = node.module.rpartition(".")
            if target != package or module.startswith("_") or node.module in PACKAGES:
                continue  # only the names of a public module of ``package``
            if _package_of(importer) == package:
                continue
            if package != "reviewer" and importer.startswith(package + "."):
                continue
            names.update(alias.name for alias in node.names)
    return names


def test_every_package_is_checked() -> None:
    assert {"reviewer", "reviewer.app", "reviewer.diff", "reviewer.gitlab", "reviewer.model"} <= set(PACKAGES)
    assert {"reviewer.review", "reviewer.review.detectors", "workers"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_public_and_every_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__

    assert module.__doc__ and re.search(r"\bRule\b|\brules?\b", module.__doc__), "say the package's rule"
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    assert all(not name.startswith("_") for name in exported)
    for name in exported:
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize("package", [p for p in PACKAGES if _type_checking_imports(p)])
def test_type_checkers_see_exactly_what_the_package_gives(package: str) -> None:
    module = importlib.import_module(package)
    declared = _type_checking_imports(package)

    assert set(declared) == set(module.__all__)
    for name, source in declared.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), name), name


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "workers"])
def test_what_other_packages_import_is_exported(package: str) -> None:
    module = importlib.import_module(package)

    assert _imported_from_outside(package) <= set(module.__all__)


def test_a_name_that_is_not_exported_is_an_attribute_error() -> None:
    import reviewer.review

    with pytest.raises(AttributeError, match="has no attribute 'plan_review'"):
        reviewer.review.plan_review  # noqa: B018
