from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from reviewer.app import metrics
from reviewer.app.config import Settings


@pytest.fixture
def restore_single_process() -> Iterator[None]:
    yield
    metrics.configure_multiprocess(None)


def test_setup_counts_in_files_under_the_state_dir(tmp_path: Path, restore_single_process: None) -> None:
    directory = metrics.setup(Settings(state_dir=tmp_path))
    assert directory == tmp_path / "metrics"
    assert os.environ[metrics.MULTIPROC_VARIABLE] == str(directory)  # inherited by child processes
    metrics.WEBHOOKS.labels(outcome="queued").inc()
    assert list(directory.glob(f"counter_{os.getpid()}.db"))
    text = generate_latest(metrics.scrape_registry()).decode()
    assert 'reviewer_webhooks_total{outcome="queued"} 1.0' in text


def test_files_of_processes_no_longer_running_are_removed_at_setup(
    tmp_path: Path, restore_single_process: None
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    exited, running = directory / "counter_999999999.db", directory / f"histogram_{os.getppid()}.db"
    exited.write_bytes(b"")
    running.write_bytes(b"")
    metrics.configure_multiprocess(directory)
    assert not exited.exists() and running.exists()


def test_back_to_single_process_counting(tmp_path: Path) -> None:
    metrics.configure_multiprocess(tmp_path / "metrics")
    metrics.configure_multiprocess(None)
    assert metrics.MULTIPROC_VARIABLE not in os.environ
    metrics.REVIEWS.labels(outcome="reviewed", tier="lite").inc()
    text = generate_latest(metrics.scrape_registry()).decode()
    assert 'reviewer_reviews_total{outcome="reviewed",tier="lite"} 1.0' in text
