"""A review's deadline: checked at each call, cancellable, and carried into the review's threads."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reviewer import deadline
from reviewer.deadline import Deadline, within
from reviewer.errors import ReviewStopped


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_review_runs_until_its_deadline_and_no_further() -> None:
    clock = Clock()
    budget = Deadline(60, clock=clock)
    with within(budget):
        deadline.check("ask the model")
        clock.now += 59
        assert deadline.clamp(30) == pytest.approx(1.0)
        clock.now += 2
        with pytest.raises(ReviewStopped, match="ask the model: the review took over 60 s"):
            deadline.check("ask the model")
    deadline.check("anything")  # outside a review: no budget


def test_a_timeout_is_never_clamped_below_what_a_connection_needs() -> None:
    clock = Clock()
    with within(Deadline(10, clock=clock)):
        assert deadline.clamp(30) == 10
        assert deadline.clamp(3) == 3
        clock.now += 20
        assert deadline.clamp(30) == deadline.MIN_TIMEOUT


def test_cancelling_stops_the_review_at_its_next_step_from_any_thread() -> None:
    budget = Deadline(600)
    with within(budget):
        threading.Thread(target=budget.cancel, args=("the merge request's lock expired",)).start()
        with pytest.raises(ReviewStopped, match="lock expired"):
            for _ in range(10_000_000):  # the cancel lands within a few checks
                deadline.check("post a thread")


def test_concurrent_reviews_each_see_their_own_deadline_and_threads_they_start_inherit_it() -> None:
    clock = Clock()
    expired, fresh = Deadline(1, clock=clock), Deadline(600, clock=clock)
    clock.now += 5

    def review(budget: Deadline) -> str:
        with within(budget):
            context = contextvars.copy_context()
            with ThreadPoolExecutor(2) as pool:  # as the engine runs a review's model calls
                calls = pool.map(lambda _: context.copy().run(_outcome), range(2))
                return ",".join(calls)

    with ThreadPoolExecutor(2) as reviews:
        assert list(reviews.map(review, [expired, fresh])) == ["stopped,stopped", "ran,ran"]


def _outcome() -> str:
    try:
        deadline.check("ask the model")
    except ReviewStopped:
        return "stopped"
    return "ran"
