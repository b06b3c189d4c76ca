"""A `reviewer worker` host without an intake serves its own metrics, pool children included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from fakes.ports import free_port

# What a worker host runs: multiprocess counting, the metrics port, and a forked pool child (as
# Celery's prefork pool makes) that counts a review and exits.
WORKER_HOST = """
import multiprocessing, sys
from pathlib import Path
from reviewer.app import metrics

metrics.configure_multiprocess(Path(sys.argv[1]))
server, thread = metrics.start_metrics_server(int(sys.argv[2]), "127.0.0.1")

def pool_child():
    metrics.REVIEWS.labels(outcome="reviewed", tier="lite").inc()
    metrics.REVIEW_SECONDS.observe(3.0)

child = multiprocessing.get_context("fork").Process(target=pool_child)
child.start()
child.join()
metrics.process_exited(child.pid)
metrics.REVIEWS.labels(outcome="failed", tier="full").inc(2)
print("ready", flush=True)
sys.stdin.read()  # serve until the test closes stdin
server.shutdown()
"""


def test_a_worker_host_serves_the_counts_of_its_pool_children_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    host = subprocess.Popen(
        [sys.executable, "-c", WORKER_HOST, str(tmp_path / "metrics"), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert host.stdout is not None and host.stdout.readline() == b"ready\n"
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        assert host.stdin is not None
        host.stdin.close()
        host.wait(timeout=30)
    assert 'reviewer_reviews_total{outcome="reviewed",tier="lite"} 1.0' in text  # the exited child
    assert 'reviewer_reviews_total{outcome="failed",tier="full"} 2.0' in text  # the host process
    assert "reviewer_review_seconds_count 1.0" in text
