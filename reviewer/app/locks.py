"""One review of a merge request at a time, and one outcome per queued job, across every worker.

The MR lock lives ``ttl`` seconds and the running review renews it every third of that from a
background thread, so a worker that dies (SIGKILL, a lost node) frees its MR within ``ttl``, while a
review of any length keeps it. A renewal that fails for longer than ``ttl`` means another worker may
already hold the MR: the holder is told (``on_lost``) and stops at its next step.

Redis redelivers a job whose worker died, and sometimes one whose worker is only slow; the outcome
of every finished job is kept by its task id, so a redelivered copy answers with that outcome instead
of reviewing again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import LockError

log = logging.getLogger(__name__)

OUTCOME_TTL_SECONDS = 2 * 24 * 3600


class HeldLock:
    """A held MR lock, renewed until ``release()``; ``lost`` is set when it could not be."""

    def __init__(self, lock: Any, ttl: float, on_lost: Callable[[str], None]) -> None:
        self._lock = lock
        self._ttl = ttl
        self._on_lost = on_lost
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="mr-lock-renewal", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        renewed = time.monotonic()
        while not self._stop.wait(self._ttl / 3):
            try:
                self._lock.reacquire()
                renewed = time.monotonic()
            except LockError:
                self._lose("the merge request's lock expired before it could be renewed")
                return
            except redis.RedisError as exc:
                if time.monotonic() - renewed >= self._ttl:
                    self._lose(f"the merge request's lock could not be renewed ({type(exc).__name__})")
                    return
                log.warning("could not renew a merge request lock, trying again: %s", type(exc).__name__)

    def _lose(self, reason: str) -> None:
        self.lost.set()
        log.warning("%s: another worker may review the merge request now", reason)
        self._on_lost(reason)

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._ttl)
        if self.lost.is_set():
            return
        with contextlib.suppress(LockError, redis.RedisError):  # expired, or Redis is away: it expires
            self._lock.release()

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class MergeRequestLocks:
    def __init__(self, client: redis.Redis, *, ttl: float, prefix: str = "reviewer:lock:") -> None:
        self._redis = client
        self._ttl = ttl
        self._prefix = prefix

    def try_hold(
        self, project_id: int | str, iid: int, on_lost: Callable[[str], None] = lambda reason: None
    ) -> HeldLock | None:
        """The MR's lock, renewed from now on, or None when another review holds it."""
        # thread_local=False: the renewal thread must see the token the acquiring thread got.
        lock = self._redis.lock(f"{self._prefix}{project_id}:{iid}", timeout=self._ttl, thread_local=False)
        if not lock.acquire(blocking=False):
            return None
        return HeldLock(lock, self._ttl, on_lost)


class JobOutcomes:
    """The outcome of each finished job, by task id (a retry keeps its task id)."""

    def __init__(self, client: redis.Redis, *, prefix: str = "reviewer:job:") -> None:
        self._redis = client
        self._prefix = prefix

    def get(self, task_id: str) -> dict[str, Any] | None:
        raw = self._redis.get(self._prefix + task_id)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, task_id: str, outcome: dict[str, Any]) -> None:
        self._redis.set(self._prefix + task_id, json.dumps(outcome).encode(), ex=OUTCOME_TTL_SECONDS)
