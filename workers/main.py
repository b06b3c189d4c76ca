"""The `reviewer` console script: the command line of reviewer.app.cli, given the Celery runtime.

The composition root lives here, at the edge, so that nothing under reviewer/ imports workers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from reviewer.app import cli


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, runtime=_celery_runtime)


def _celery_runtime() -> cli.QueueRuntime:
    from workers.runtime import CeleryRuntime  # Celery is imported only by the commands that use it

    return CeleryRuntime()


if __name__ == "__main__":
    sys.exit(main())
