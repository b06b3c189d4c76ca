"""Webhook intake latency under load: `reviewer serve` in front of a real Redis, deliveries at a
fixed rate from another process, every one answered and counted in the queue.

Starts a Redis server (the embedded one) and `reviewer serve` with REVIEWER_REDIS_URL pointing at
it, as in production where workers run elsewhere, sends merge request "open" deliveries with
distinct Idempotency-Keys at --rate per second for --seconds, then prints p50/p90/p99/max latency,
the answers by status, and how many jobs are waiting in the queue (nothing lost: one per 202).
DESIGN.md's budget: p99 <= 10 ms at 300 deliveries/s on 2 cores.

    .venv/bin/python bench/intake_latency.py [--rate 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.state import connect
from workers.celery_app import REVIEW_QUEUE

SECRET = "bench-secret"


def _payload(iid: int) -> bytes:
    return json.dumps(
        {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "project": {"id": 1, "path_with_namespace": "group/app"},
            "object_attributes": {
                "iid": iid + 1,  # GitLab numbers merge requests from 1
                "action": "open",
                "state": "opened",
                "last_commit": {"id": "c0ffee" * 6},
            },
        }
    ).encode()


async def _load(port: int, rate: int, seconds: float) -> tuple[list[float], Counter[int]]:
    """A lean keep-alive HTTP/1.1 client on raw asyncio streams: the load generator shares the
    machine's two cores with the intake, so it must cost far less per request than the intake."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    async def one(i: int) -> None:
        reader, writer = await pool.get()
        body = _payload(i)
        request = (
            f"POST /webhooks/gitlab HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Gitlab-Event: Merge Request Hook\r\nX-Gitlab-Token: {SECRET}\r\n"
            f"Idempotency-Key: {uuid.uuid4()}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
        )
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        statuses[int(head.split(b" ")[1])] += 1
        pool.put_nowait((reader, writer))

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not synchronising a test
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as home:
        redis_server = EmbeddedRedis(Path(home) / "redis")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REVIEWER_")}
        env.update(
            HOME=home,
            REVIEWER_WEBHOOK_SECRET=SECRET,
            REVIEWER_LOG_LEVEL="WARNING",
            REVIEWER_REDIS_URL=redis_server.url,
        )
        log = Path(home) / "serve.log"
        server = subprocess.Popen(
            [sys.executable, "-m", "workers.main", "serve", "--no-demo", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        print(log.read_text())
                        return 1
                    time.sleep(0.1)
            asyncio.run(_load(port, 50, 1))  # warm-up
            latencies, statuses = asyncio.run(_load(port, args.rate, args.seconds))
            waiting = connect(redis_server.url).llen(REVIEW_QUEUE)
        finally:
            server.terminate()
            server.wait(timeout=30)
            redis_server.close()
    ms = sorted(x * 1000 for x in latencies)
    pct = statistics.quantiles(ms, n=100)
    print(f"intake: {len(ms)} deliveries at {args.rate}/s for {args.seconds:.0f} s on {os.cpu_count()} cores")
    print(f"latency ms: p50 {pct[49]:.2f}  p90 {pct[89]:.2f}  p99 {pct[98]:.2f}  max {ms[-1]:.2f}")
    print(f"answers: {dict(statuses)}; jobs waiting in the queue: {waiting} (50 from the warm-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
