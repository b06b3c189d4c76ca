"""What ``reviewer serve`` runs: the intake, the queue, and (without REVIEWER_REDIS_URL) the
embedded Redis with an in-process worker, so that one command runs the whole bot on one machine."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from celery.worker import WorkController

from reviewer.app.config import Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.events import ReviewJob
from reviewer.app.people import ConversationConfig
from reviewer.app.services import build_services
from reviewer.app.state import RedisDeliveryLog, ReviewLedger, connect
from reviewer.app.web import create_app
from reviewer.review.engine import Engine
from workers import conversation_tasks, tasks
from workers.celery_app import create_celery

log = logging.getLogger(__name__)

EMBEDDED_WORKER_CONCURRENCY = 4


@dataclass
class Runtime:
    app: Any
    engine: Engine
    celery: Celery
    embedded: bool
    _closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as exc:  # shutting down: say what failed, keep closing the rest
                log.warning("while shutting down: %s", exc)


def start_runtime(settings: Settings, *, start_worker: bool | None = None) -> Runtime:
    """Build everything ``serve`` needs. An in-process worker starts when Redis is embedded
    (or when ``start_worker`` asks for one)."""
    closers: list[Any] = []
    embedded = None
    if settings.redis_url:
        broker = settings.redis_url
        client = connect(settings.redis_url)
    else:
        embedded = EmbeddedRedis(settings.state_dir)
        closers.append(embedded.close)
        broker = embedded.url
        client = connect(embedded.url)
    celery = create_celery(broker)
    services = build_services(settings)
    ledger = ReviewLedger(client)
    tasks.install(services, ledger)
    if services.gitlab is not None:
        conversation_tasks.install(services, ledger, ConversationConfig.from_settings(settings))

    def enqueue(job: ReviewJob, delivery: str) -> str:
        if job.trigger in conversation_tasks.TRIGGERS:  # a person's note or reaction
            return conversation_tasks.enqueue(celery, job, delivery)
        result = celery.send_task(
            "reviewer.review_merge_request",
            kwargs={
                "project_id": job.project_id,
                "iid": job.iid,
                "trigger": job.trigger,
                "delivery": delivery,
            },
        )
        return str(result.id)

    if start_worker if start_worker is not None else embedded is not None:
        closers.append(start_worker_thread(celery))
    app = create_app(settings.webhook_secrets, enqueue, RedisDeliveryLog(client))
    return Runtime(
        app=app, engine=services.engine, celery=celery, embedded=embedded is not None, _closers=closers
    )


def start_worker_thread(celery: Celery, concurrency: int = EMBEDDED_WORKER_CONCURRENCY) -> Any:
    """A real Celery worker consuming in a thread of this process; returns its stop function."""
    celery.finalize()
    started = threading.Event()

    class _Worker(WorkController):
        def on_consumer_ready(self, consumer: Any) -> None:
            super().on_consumer_ready(consumer)
            started.set()

    worker = _Worker(
        app=celery,
        pool_cls="threads",
        concurrency=concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel=logging.WARNING,
    )
    thread = threading.Thread(target=worker.start, name="celery-worker", daemon=True)
    thread.start()
    if not started.wait(timeout=30):
        raise RuntimeError("the embedded Celery worker did not start within 30 s")
    log.info("embedded worker consuming (%d threads)", concurrency)

    def stop() -> None:
        worker.stop(in_sighandler=False)
        thread.join(timeout=10)

    return stop
