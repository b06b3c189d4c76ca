"""A review's time budget, checked cooperatively at every call to GitLab and to the model.

A worker's thread pool cannot interrupt a running task, so the review stops itself: the task opens
``within(Deadline(seconds))`` and the HTTP clients call ``check()`` before each request and send it
with ``clamp(timeout)``, so no request outlives the budget by more than its own timeout. The worker
also ``cancel()``s the deadline when it loses the merge request's lock. Contextvars carry the
deadline, so concurrent reviews in one process each see their own; threads a review starts must run
in a copy of its context (``contextvars.copy_context()``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from reviewer.errors import ReviewStopped

MIN_TIMEOUT = 0.5  # a request is never sent with less: it could not even connect


class Deadline:
    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends = clock() + seconds
        self._cancelled: str | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self._ends - self._clock()

    def cancel(self, reason: str) -> None:
        """Stop the review at its next check (callable from any thread)."""
        with self._lock:
            self._cancelled = self._cancelled or reason

    def check(self, what: str) -> None:
        with self._lock:
            cancelled = self._cancelled
        if cancelled:
            raise ReviewStopped(f"stopped before it could {what}: {cancelled}")
        if self.remaining() <= 0:
            raise ReviewStopped(f"stopped before it could {what}: the review took over {self.seconds:g} s")


_current: ContextVar[Deadline | None] = ContextVar("reviewer_deadline", default=None)


@contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def check(what: str) -> None:
    """Raise ReviewStopped when the current review's deadline passed or it was cancelled."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check(what)


def clamp(timeout: float) -> float:
    """A request's timeout, no longer than what is left of the current review's budget."""
    deadline = _current.get()
    if deadline is None:
        return timeout
    return max(MIN_TIMEOUT, min(timeout, deadline.remaining()))
