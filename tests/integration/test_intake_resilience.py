"""The intake against a real Redis that goes away, and metrics counted in another process.

The intake (``create_app`` with the spool) is served by uvicorn on loopback, its enqueue is a real
Celery ``send_task`` to the embedded Redis, its dedupe log the real RedisDeliveryLog; deliveries are
built by tests/fakes/webhooks.py from the GitLab stand-in; a real ``reviewer worker`` process posts
the review to the stand-in.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from celery import Celery
from fakes.gateway_server import FakeGateway
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo
from fakes.ports import free_port
from fakes.webhooks import merge_request_hook

from reviewer.app import metrics
from reviewer.app.config import Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.events import ReviewJob
from reviewer.app.spool import Spool
from reviewer.app.state import RedisDeliveryLog, connect
from reviewer.app.web import create_app
from workers.celery_app import REVIEW_QUEUE, create_celery
from workers.tasks import enqueue_review

SECRET = "webhook-secret"


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling a condition with a deadline


class Broker:
    """The enqueue callable and delivery log that the runtime builds, bound to whichever embedded
    Redis runs now: a restarted embedded Redis listens on a new socket, where a production Redis
    comes back at the same address."""

    def __init__(self, server: EmbeddedRedis) -> None:
        self.server = server
        self._clients: dict[str, tuple[Celery, redis.Redis]] = {}

    def _client(self) -> tuple[Celery, redis.Redis]:
        url = self.server.url
        if url not in self._clients:
            self._clients[url] = (create_celery(url, Settings()), connect(url))
        return self._clients[url]

    def enqueue(self, job: ReviewJob, delivery: str) -> str:
        return enqueue_review(self._client()[0], job, delivery)

    def first_time(self, key: str) -> bool:
        return RedisDeliveryLog(self._client()[1]).first_time(key)

    def queued(self) -> list[dict[str, Any]]:
        """The kwargs of every task message waiting in the review queue."""
        raw = connect(self.server.url).lrange(REVIEW_QUEUE, 0, -1)
        return [json.loads(base64.b64decode(json.loads(m)["body"]))[1] for m in raw]


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn (lifespan included) on a free loopback port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started or not thread.is_alive(), "uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class Stack:
    gitlab: GitLabStandIn
    gateway: FakeGateway
    project_id: int
    iid: int
    tmp_path: Path

    def worker(self, redis_url: str, **env: str) -> subprocess.Popen[bytes]:
        """A `reviewer worker` process connected to the stand-ins and ``redis_url``."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWER_", "OPENAI_"))}
        environment.update(
            HOME=str(self.tmp_path),
            REVIEWER_REDIS_URL=redis_url,
            REVIEWER_GITLAB_URL=self.gitlab.url,
            REVIEWER_GITLAB_TOKEN=self.gitlab.token,
            REVIEWER_LLM_BASE_URL=self.gateway.base_url,
            REVIEWER_LLM_API_KEY="gateway-key",
            REVIEWER_LLM_MODEL="openai/gpt-4o-mini",
            **env,
        )
        log = (self.tmp_path / "worker.log").open("ab")
        command = [sys.executable, "-m", "workers.main", "worker", "--concurrency", "1"]
        return subprocess.Popen(command, env=environment, cwd=self.tmp_path, stdout=log, stderr=log)

    def summaries(self) -> list[dict[str, Any]]:
        notes = self.gitlab.notes(self.project_id, self.iid)
        return [n for n in notes if "<!-- ai-review summary -->" in n["body"]]

    def wait_for_summary(self, worker: subprocess.Popen[bytes]) -> None:
        def posted() -> bool:
            if worker.poll() is not None:
                pytest.fail(f"the worker exited:\n{(self.tmp_path / 'worker.log').read_text()}")
            return bool(self.summaries())

        _wait_for(posted, "the worker to post the review", seconds=120)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    repo = GitRepo.create(tmp_path / "app", files={"app/db.py": "def f():\n    return 1\n"})
    repo.commit({"app/db.py": "def f():\n    return 2\n"}, branch="feature", message="Two")
    with GitLabStandIn() as gitlab, FakeGateway() as gateway:
        project_id = gitlab.add_project("group/app", repo)
        iid = gitlab.open_mr(project_id, "feature", title="Return two")
        yield Stack(gitlab, gateway, project_id, iid, tmp_path)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_redis_stopped_while_a_delivery_arrives_then_started_the_review_is_posted(stack: Stack) -> None:
    redis_dir = stack.tmp_path / "redis"
    broker = Broker(EmbeddedRedis(redis_dir))
    spool = Spool(stack.tmp_path / "state" / "spool")
    app = create_app((SECRET,), broker.enqueue, broker, spool=spool, drain_interval=0.5)
    worker = None
    try:
        with serving(app) as intake:
            broker.server.close()  # Redis goes away
            headers, payload = merge_request_hook(
                stack.gitlab, stack.project_id, stack.iid, "open", secret=SECRET
            )
            response = httpx.post(f"{intake}/webhooks/gitlab", json=payload, headers=headers, timeout=30)
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "spooled"
            assert spool.count() == 1

            broker.server = EmbeddedRedis(redis_dir)  # Redis is back
            _wait_for(lambda: spool.count() == 0 and broker.queued() != [], "the spooled job to be queued")
            delivery = "idem:" + headers["Idempotency-Key"]
            ((queued),) = broker.queued()
            assert {k: queued[k] for k in ("project_id", "iid", "trigger", "delivery")} == {
                "project_id": stack.project_id,
                "iid": stack.iid,
                "trigger": "opened",
                "delivery": delivery,
            }
            again = httpx.post(f"{intake}/webhooks/gitlab", json=payload, headers=headers, timeout=30)
            assert again.json()["status"] == "duplicate"  # the drainer recorded the delivery key

            worker = stack.worker(broker.server.url)
            stack.wait_for_summary(worker)
            assert len(stack.summaries()) == 1
    finally:
        if worker is not None:
            _stop(worker)
        broker.server.close()


@pytest.fixture
def shared_metrics(tmp_path: Path) -> Iterator[Path]:
    """This test process counts in multiprocess mode, as `reviewer serve` does after metrics.setup."""
    directory = tmp_path / "state" / "metrics"
    metrics.configure_multiprocess(directory)
    try:
        yield directory
    finally:
        metrics.configure_multiprocess(None)


def test_counts_of_a_worker_process_reach_the_intakes_metrics(stack: Stack, shared_metrics: Path) -> None:
    server = EmbeddedRedis(stack.tmp_path / "redis")
    broker = Broker(server)
    app = create_app((SECRET,), broker.enqueue, broker, spool=Spool(stack.tmp_path / "state" / "spool"))
    # The worker learns the directory from the variable prometheus_client itself reads.
    worker = stack.worker(server.url, PROMETHEUS_MULTIPROC_DIR=str(shared_metrics))
    try:
        with serving(app) as intake:
            headers, payload = merge_request_hook(
                stack.gitlab, stack.project_id, stack.iid, "open", secret=SECRET
            )
            response = httpx.post(f"{intake}/webhooks/gitlab", json=payload, headers=headers, timeout=30)
            assert response.json()["status"] == "queued"
            stack.wait_for_summary(worker)
            _stop(worker)  # counts of a process that has exited stay in the sum
            text = httpx.get(f"{intake}/metrics", timeout=10).text
    finally:
        _stop(worker)
        server.close()
    assert 'reviewer_webhooks_total{outcome="queued"} 1.0' in text  # counted by the intake
    reviewed = [line for line in text.splitlines() if line.startswith("reviewer_reviews_total{")]
    assert any('outcome="reviewed"' in line and line.endswith(" 1.0") for line in reviewed), text
    assert "reviewer_review_seconds_count 1.0" in text  # counted by the worker process
