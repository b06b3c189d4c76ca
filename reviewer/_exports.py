"""Package exports resolved on first use (PEP 562 module ``__getattr__``).

A package's ``__init__`` names its public API in ``__all__`` without importing its modules: importing
``reviewer.review.findings`` must not import the engine, and ``reviewer.review`` and
``reviewer.model`` use each other, so eager re-exports would import in a circle. Each ``__init__``
also imports the same names under ``TYPE_CHECKING``, for type checkers; tests/unit/test_exports.py
checks that the two lists agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, modules: Mapping[str, tuple[str, ...]]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports each name of ``modules`` (submodule
    name -> the names it exports) from its submodule on first use."""
    source = {name: f"{package}.{module}" for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in source:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(source[name]), name)

    return __getattr__
