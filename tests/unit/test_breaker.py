"""reviewer.model.breaker: the circuit breaker per model."""

from __future__ import annotations

import threading

import pytest

from reviewer.model.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_consecutive_failures():
    breaker = CircuitBreaker(3, 60, clock=FakeClock())
    for _ in range(2):
        breaker.failure("m")
    assert breaker.allow("m")

    breaker.failure("m")

    assert not breaker.allow("m") and breaker.state("m") == "open"


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker(2, 60, clock=FakeClock())
    breaker.failure("m")
    breaker.success("m")
    breaker.failure("m")

    assert breaker.state("m") == "closed"


def test_half_open_lets_exactly_one_probe_through():
    clock = FakeClock()
    breaker = CircuitBreaker(1, 60, clock=clock)
    breaker.failure("m")
    clock.now = 59
    assert not breaker.allow("m") and breaker.retry_in("m") == pytest.approx(1)

    clock.now = 60
    assert breaker.allow("m")
    assert not breaker.allow("m")  # a second caller while the probe is out
    breaker.success("m")
    assert breaker.allow("m") and breaker.state("m") == "closed"


def test_a_failed_probe_restarts_the_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(1, 60, clock=clock)
    breaker.failure("m")
    clock.now = 61
    assert breaker.allow("m")

    breaker.failure("m")

    assert breaker.state("m") == "open" and breaker.retry_in("m") == pytest.approx(60)


def test_breakers_are_per_model():
    breaker = CircuitBreaker(1, 60, clock=FakeClock())
    breaker.failure("a")

    assert not breaker.allow("a") and breaker.allow("b")


def test_breaker_counts_failures_from_many_threads():
    breaker = CircuitBreaker(1000, 60, clock=FakeClock())

    def fail_100_times() -> None:
        for _ in range(100):
            breaker.failure("m")

    threads = [threading.Thread(target=fail_100_times) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert breaker.state("m") == "open"
