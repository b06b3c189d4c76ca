"""Worker capacity: how many reviews a `reviewer worker` process does, what a concurrent review costs
in memory and CPU, and how long reviews wait in the queue when many MRs arrive at once.

Starts a real Redis (the embedded server), the GitLab stand-in with --mrs open merge requests, the
gateway stand-in answering every model call after --latency seconds, and --workers `reviewer worker`
processes (--concurrency threads each); queues a review of every MR at the same moment, waits for
all of them, and prints:
- reviews per minute per worker process, and the time one review takes;
- memory per concurrent review (the workers' peak resident memory above idle, per review in flight)
  and CPU seconds per review;
- queue wait p50/p95 (from enqueueing to the start of the review);
- from those, the worker processes a given load needs (default: Cloudflare's peak, about 10 reviews
  a minute with 3 model calls of 30 s each, which a review makes in parallel): reviews in flight =
  arrival rate x review time (Little's law), with 2x headroom, over the threads of one process.

    .venv/bin/python bench/capacity.py [--mrs 50] [--latency 2] [--workers 2] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fakes.gateway_server import FakeGateway, answer  # noqa: E402
from fakes.gitlab_server import GitLabStandIn  # noqa: E402
from fakes.gitrepo import GitRepo  # noqa: E402

from reviewer.app.config import Settings  # noqa: E402
from reviewer.app.embedded_redis import EmbeddedRedis  # noqa: E402
from reviewer.app.events import ReviewJob  # noqa: E402
from workers.celery_app import create_celery  # noqa: E402
from workers.tasks import enqueue_review  # noqa: E402

FINDINGS = '{"findings": [{"path": "app/change.py", "line": 2, "side": "new", "severity": "medium", '
FINDINGS += '"category": "style", "title": "Handle the failure", "body": "Say why not.", "confidence": 0.9}]}'


def _open_mrs(gitlab: GitLabStandIn, home: Path, count: int) -> list[tuple[int, int]]:
    repo = GitRepo.create(home / "app", files={"README.md": "# app\n"})
    project_id = gitlab.add_project("group/app", repo)
    mrs = []
    for n in range(count):
        text = f"def change_{n}():\n    return {n}  # TODO handle failure\n"
        repo.commit({"app/change.py": text}, branch=f"change-{n}", message=f"change {n}")
        mrs.append((project_id, gitlab.open_mr(project_id, f"change-{n}", title=f"Change {n}")))
    return mrs


def _environment(home: Path, gitlab: GitLabStandIn, gateway: FakeGateway, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWER_", "OPENAI_"))}
    env.update(
        HOME=str(home),
        REVIEWER_REDIS_URL=redis_url,
        REVIEWER_GITLAB_URL=gitlab.url,
        REVIEWER_GITLAB_TOKEN=gitlab.token,
        REVIEWER_LLM_BASE_URL=gateway.base_url,
        REVIEWER_LLM_API_KEY="bench-key",
        REVIEWER_LLM_MODEL="m",
        REVIEWER_LOG_LEVEL="WARNING",
        REVIEWER_SWEEP_INTERVAL="0",
    )
    return env


def _start_workers(
    env: dict[str, str], home: Path, count: int, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    processes, logs = [], []
    for n in range(count):
        log = home / f"worker-{n}.log"
        command = [sys.executable, "-m", "workers.main", "worker", f"--concurrency={concurrency}"]
        command += ["--name", f"bench{n}@%h"]
        processes.append(
            subprocess.Popen(command, env=env, cwd=home, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        )
        logs.append(log)
    deadline = time.monotonic() + 120
    for process, log in zip(processes, logs, strict=True):
        while " ready." not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a worker did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)  # polling the worker's log with a deadline
    return processes


class MemorySampler(threading.Thread):
    """The workers' summed resident memory, sampled every 50 ms; keeps the peak."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.peak = 0
        self.stop = threading.Event()

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.processes)

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.rss())


def _cpu(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mrs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds the gateway takes per call")
    parser.add_argument("--workers", type=int, default=2, help="`reviewer worker` processes")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker process")
    parser.add_argument("--peak-rate", type=float, default=10.0, help="reviews a minute to size for")
    parser.add_argument("--peak-call", type=float, default=30.0, help="seconds of one model call at peak")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        home = Path(tmp)
        with (
            EmbeddedRedis(home / "redis") as redis_server,
            GitLabStandIn() as gitlab,
            FakeGateway(default=answer(FINDINGS), latency=args.latency) as gateway,
        ):
            mrs = _open_mrs(gitlab, home, args.mrs)
            env = _environment(home, gitlab, gateway, redis_server.url)
            workers = _start_workers(env, home, args.workers, args.concurrency)
            celery = create_celery(redis_server.url, Settings())
            try:
                measured = [psutil.Process(w.pid) for w in workers]
                time.sleep(1.0)  # let the fresh processes settle before the idle reading
                idle, cpu_before = sum(p.memory_info().rss for p in measured), _cpu(measured)
                sampler = MemorySampler(measured)
                sampler.start()
                queued_at, tasks = time.time(), []
                for project_id, iid in mrs:
                    tasks.append(enqueue_review(celery, ReviewJob(project_id, iid, "opened"), f"bench-{iid}"))
                results: list[dict[str, Any]] = [celery.AsyncResult(t).get(timeout=600) for t in tasks]
                sampler.stop.set()
                sampler.join()
                cpu = _cpu(measured) - cpu_before
            finally:
                celery.close()
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(timeout=30)
    _report(args, results, queued_at, idle, sampler.peak, cpu)


def _report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    queued_at: float,
    idle: int,
    peak: int,
    cpu: float,
) -> None:
    reviewed = [r for r in results if r["status"] == "reviewed"]
    if len(reviewed) != len(results):
        raise SystemExit(f"only {len(reviewed)} of {len(results)} reviews completed: {results[:3]}")
    span = max(r["finished_at"] for r in results) - queued_at
    per_process = len(results) / span * 60 / args.workers
    review_time = statistics.median(r["finished_at"] - r["started_at"] for r in results)
    waits = [r["started_at"] - queued_at for r in results]
    in_flight = min(args.mrs, args.workers * args.concurrency)
    per_review_mb = (peak - idle) / in_flight / 2**20
    cpu_per_review = cpu / len(results)
    overhead = max(0.0, review_time - args.latency)

    peak_review = args.peak_call + overhead  # a review's model calls run in parallel
    peak_in_flight = args.peak_rate / 60 * peak_review
    processes = max(1, math.ceil(2 * peak_in_flight / args.concurrency))
    print(
        f"{args.mrs} MRs queued at once; gateway latency {args.latency:g} s a call; "
        f"{args.workers} worker processes x {args.concurrency} threads"
    )
    print(f"  throughput: {per_process:.1f} reviews a minute per worker process ({span:.1f} s for all)")
    print(f"  one review: {review_time:.2f} s (median), {overhead:.2f} s of it besides the model call")
    print(f"  queue wait: p50 {_percentile(waits, 0.5):.1f} s, p95 {_percentile(waits, 0.95):.1f} s")
    print(
        f"  memory: {idle / args.workers / 2**20:.0f} MB a worker process idle, "
        f"{per_review_mb:.1f} MB more per concurrent review; CPU {cpu_per_review * 1000:.0f} ms per review"
    )
    threads = math.ceil(2 * peak_in_flight)
    memory = processes * idle / args.workers / 2**20 + threads * per_review_mb
    print(
        f"At {args.peak_rate:g} reviews a minute, model calls of {args.peak_call:g} s (in parallel within a "
        f"review): a review takes about {peak_review:.0f} s, {peak_in_flight:.1f} are in flight on average; "
        f"with 2x headroom, {threads} concurrent reviews: {processes} worker process(es) of "
        f"{args.concurrency} threads (or one with --concurrency {threads}), about {memory:.0f} MB, "
        f"{args.peak_rate / 60 * cpu_per_review * 100:.1f}% of a CPU core."
    )


if __name__ == "__main__":
    main()
