"""A circuit breaker per model: a model that keeps failing is skipped for a while instead of
being retried by every review."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass
class _BreakerState:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    """Per-key breaker, thread-safe.

    Closed until ``failures`` consecutive failures; then open (``allow`` is False) for ``cooldown``
    seconds; then half-open: one caller gets a probe, the others keep being refused until the probe
    reports. Success closes it, failure opens it for another cooldown.
    """

    def __init__(
        self, failures: int, cooldown: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = max(1, failures)
        self._cooldown = cooldown
        self._clock = clock
        self._states: dict[str, _BreakerState] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        with self._lock:
            state = self._states.setdefault(key, _BreakerState())
            if state.opened_at is None:
                return True
            if state.probing or self._clock() - state.opened_at < self._cooldown:
                return False
            state.probing = True
            return True

    def success(self, key: str) -> None:
        with self._lock:
            self._states[key] = _BreakerState()

    def failure(self, key: str) -> None:
        with self._lock:
            state = self._states.setdefault(key, _BreakerState())
            state.failures += 1
            if state.probing or (state.opened_at is None and state.failures >= self._threshold):
                state.opened_at = self._clock()
                state.probing = False

    def retry_in(self, key: str) -> float | None:
        """Seconds until ``key`` may be probed again; None when it is not open."""
        with self._lock:
            state = self._states.get(key)
            if state is None or state.opened_at is None:
                return None
            return max(0.0, self._cooldown - (self._clock() - state.opened_at))

    def state(self, key: str) -> Literal["closed", "open", "half-open"]:
        with self._lock:
            state = self._states.get(key)
            if state is None or state.opened_at is None:
                return "closed"
            if state.probing or self._clock() - state.opened_at >= self._cooldown:
                return "half-open"
            return "open"
