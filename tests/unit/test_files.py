"""reviewer.review.files: many files read at once, each once, in the caller's context."""

from __future__ import annotations

import contextvars
import threading

import pytest

from reviewer.review.files import read_all

REVIEW = contextvars.ContextVar("review", default="none")


def test_each_path_is_read_once_in_parallel_threads_that_see_the_callers_context() -> None:
    seen: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def read(path: str) -> str | None:
        with lock:
            seen.append((path, REVIEW.get(), threading.current_thread().name))
        return None if path == "absent.py" else f"text of {path}"

    REVIEW.set("review-42")
    texts = read_all(read, ["a.py", "b.py", "a.py", "absent.py"], concurrency=4)

    assert texts == {"a.py": "text of a.py", "b.py": "text of b.py", "absent.py": None}
    assert sorted(path for path, _, _ in seen) == ["a.py", "absent.py", "b.py"]
    assert {review for _, review, _ in seen} == {"review-42"}  # the deadline would reach them
    assert all(thread.startswith("read") for _, _, thread in seen)


def test_a_read_that_fails_raises_to_the_caller() -> None:
    def read(path: str) -> str | None:
        raise TimeoutError(f"deadline passed reading {path}")

    with pytest.raises(TimeoutError, match="deadline"):
        read_all(read, ["a.py", "b.py"])
    assert read_all(read, []) == {}
