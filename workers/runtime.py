"""The queue runtime the `reviewer` command is given (workers.main): what `serve` runs beside the
intake, what `worker` runs, and how a worker's health is checked.

Without REVIEWER_REDIS_URL, `serve` starts the embedded Redis and an in-process worker (a thread
pool, with the catch-up sweep's beat in a thread), so that one command runs the whole bot on one
machine. The intake process builds no GitLab or model client: the worker builds them on its first
review, so a model setting that cannot work fails reviews (saying so on the MR), not the intake.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery
from celery.app.trace import reset_worker_optimizations, setup_worker_optimizations
from celery.beat import EmbeddedService
from celery.result import _set_task_join_will_block
from celery.utils.nodenames import host_format
from celery.worker import WorkController

from reviewer.app import metrics
from reviewer.app.config import Settings
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.events import ReviewJob
from reviewer.app.feedback import FeedbackStore
from reviewer.app.pages import include_pages
from reviewer.app.spool import Spool
from reviewer.app.state import RedisDeliveryLog, connect
from reviewer.app.team_stats import JudgedFeedback
from reviewer.app.web import create_app
from reviewer.errors import ConfigError
from workers import conversation_tasks, tasks
from workers.celery_app import create_celery

log = logging.getLogger(__name__)

EMBEDDED_WORKER_CONCURRENCY = 4
BEAT_SCHEDULE_FILE = "beat-schedule"


@dataclass
class Running:
    app: Any  # the ASGI intake
    embedded: bool
    celery: Celery
    redis_url: str
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as exc:  # shutting down: say what failed, keep closing the rest
                log.warning("while shutting down: %s", exc)


class CeleryRuntime:
    """The Celery side of the `reviewer` command (reviewer.app.cli.QueueRuntime)."""

    def start(self, settings: Settings, *, problem: str | None = None, worker: bool | None = None) -> Running:
        """The intake, and (when Redis is embedded, or ``worker`` asks) a worker in this process."""
        closers: list[Callable[[], None]] = []
        embedded = None
        metrics.setup(settings)  # before anything is counted: every process of the host adds up
        try:
            if settings.redis_url:
                url = settings.redis_url
            else:
                embedded = EmbeddedRedis(settings.state_dir)
                closers.append(embedded.close)
                url = embedded.url
            celery = create_celery(url, settings)
            if worker if worker is not None else embedded is not None:
                tasks.configure(settings, url, problem)
                closers.append(start_worker_thread(celery, beat_dir=settings.state_dir))

            def enqueue(job: ReviewJob, delivery: str) -> str:
                if job.trigger in conversation_tasks.TRIGGERS:  # a person's note or reaction
                    return conversation_tasks.enqueue(celery, job, delivery)
                return tasks.enqueue_review(celery, job, delivery)

            spool = Spool(settings.state_dir / "spool")  # deliveries the broker did not take, kept
            client = connect(url)
            app = create_app(settings.webhook_secrets, enqueue, RedisDeliveryLog(client), spool=spool)
            # /ui, when REVIEWER_UI_TOKEN is set or on loopback; acceptance from the feedback store
            include_pages(app, settings, client, feedback=JudgedFeedback(FeedbackStore(client)))
        except BaseException:
            for closer in reversed(closers):
                closer()
            raise
        return Running(app, embedded is not None, celery, url, closers)

    def run_worker(self, settings: Settings, *, concurrency: int, pool: str, name: str, beat: bool) -> int:
        celery = _distributed_app(settings)
        assert settings.redis_url is not None
        metrics.setup(settings)  # before the pool forks: its children count into the same files
        if settings.metrics_port:
            metrics.start_metrics_server(settings.metrics_port)
        tasks.configure(settings, settings.redis_url)
        argv = ["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--hostname={name}"]
        # No revoked-task sync at start (mingle, a second of waiting) nor worker gossip: the
        # reviews are never revoked, and nothing here reads the other workers' events.
        argv += ["--loglevel=INFO", "--without-mingle", "--without-gossip"]
        if beat:
            argv += ["--beat", f"--schedule={_beat_file(settings.state_dir)}"]
        celery.worker_main(argv)
        return 0

    def worker_alive(self, settings: Settings, *, name: str, timeout: float) -> bool:
        """Whether the worker named ``name`` on this host answers a ping through the broker: its
        consumer is running and it can reach Redis."""
        celery = _distributed_app(settings)
        try:
            replies = celery.control.ping(destination=[host_format(name)], timeout=timeout)
        finally:
            celery.close()
        return any(host_format(name) in reply for reply in replies)


def _distributed_app(settings: Settings) -> Celery:
    if not settings.redis_url:
        raise ConfigError("`reviewer worker` needs REVIEWER_REDIS_URL (the broker of `reviewer serve`)")
    return create_celery(settings.redis_url, settings)


def _beat_file(state_dir: Path) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    return state_dir / BEAT_SCHEDULE_FILE


def start_worker_thread(
    celery: Celery, concurrency: int = EMBEDDED_WORKER_CONCURRENCY, *, beat_dir: Path | None = None
) -> Callable[[], None]:
    """A real Celery worker consuming in a thread of this process (and, with ``beat_dir``, the
    beat that schedules the catch-up sweep); returns its stop function."""
    # What Celery's own worker command does: make this the app every thread sees, so a task run
    # by the thread pool retries through this app's broker, not a default one.
    setup_worker_optimizations(celery, "reviewer@embedded")
    started = threading.Event()

    class _Worker(WorkController):
        def on_consumer_ready(self, consumer: Any) -> None:
            super().on_consumer_ready(consumer)
            started.set()

    worker = _Worker(
        app=celery,
        hostname="reviewer@embedded",
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
    beat = None
    if beat_dir is not None and celery.conf.beat_schedule:
        beat = EmbeddedService(celery, thread=True, schedule_filename=str(_beat_file(beat_dir)))
        beat.start()
    log.info("embedded worker consuming (%d threads)%s", concurrency, ", with beat" if beat else "")

    def stop() -> None:
        if beat is not None:
            beat.stop()
        worker.stop(in_sighandler=False)
        thread.join(timeout=10)
        reset_worker_optimizations(celery)
        _set_task_join_will_block(False)  # as celery.contrib.testing.worker does after its worker

    return stop
