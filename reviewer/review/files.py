"""Files of a repository read through a callable (path -> text, or None when there is no such
file), many at once: the head's files of a review, the instruction files above its changes.

The callable does the I/O (GitLab's repository files API, ``git cat-file``, a mapping); this module
only runs it in parallel, each read in a copy of the caller's contextvars context, so the review's
deadline (``reviewer.deadline``) reaches every read.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["FileReader", "read_all"]

FileReader = Callable[[str], str | None]


def read_all(read: FileReader, paths: Iterable[str], *, concurrency: int = 8) -> dict[str, str | None]:
    """Each of ``paths`` read once, in parallel: path -> text, or None when absent. An exception
    of a read (the deadline passed, the server failed for good) is raised here."""
    wanted = list(dict.fromkeys(paths))
    if not wanted:
        return {}
    if len(wanted) == 1:
        return {wanted[0]: read(wanted[0])}
    caller = contextvars.copy_context()
    with ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(wanted))), thread_name_prefix="read"
    ) as pool:
        texts = list(pool.map(lambda path: caller.copy().run(read, path), wanted))
    return dict(zip(wanted, texts, strict=True))
