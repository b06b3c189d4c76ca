"""The Celery app: Redis as broker and result backend, and the queue policy in one place.

Field notes (Celery's and kombu's docs): long model calls want ``worker_prefetch_multiplier=1``;
``acks_late`` only for idempotent tasks (a review is: fingerprints and the summary edited in place
make a rerun post nothing twice, and a renewed lock keeps two runs of one MR apart); with Redis an
unacknowledged message is redelivered after ``visibility_timeout``, so every retry countdown stays
below it (Settings.max_countdown), and kombu looks for such messages every
``unacked_restore_interval`` x ``unacked_restore_throttle`` seconds (100 by default, too slow here).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from reviewer.app import metrics, redaction
from reviewer.app.config import Settings, load_settings
from reviewer.app.redis_url import parse_redis_url
from reviewer.errors import ConfigError

REVIEW_QUEUE = "reviews"
REVIEW_TASK = "reviewer.review_merge_request"
SWEEP_TASK = "reviewer.catch_up"


def broker_url(url: str) -> str:
    """Celery's spelling of a Redis URL: a unix socket is ``redis+socket://`` there."""
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def celery_config(url: str, settings: Settings) -> dict[str, Any]:
    target = parse_redis_url(url)
    transport: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout,
        "unacked_restore_interval": max(1.0, settings.visibility_timeout / 12),
        "unacked_restore_throttle": 1,
    }
    backend_transport: dict[str, Any] = {}
    if target.is_sentinel:
        broker = target.kombu_sentinel_url()
        transport["master_name"] = backend_transport["master_name"] = target.master
    else:
        broker = broker_url(target.url)
    config: dict[str, Any] = {
        "broker_url": broker,
        "result_backend": broker,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport,
        "result_backend_transport_options": backend_transport,
        "result_expires": 24 * 3600,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # The review stops itself at its deadline (reviewer.deadline), in every pool; a prefork
        # pool also kills a child that outlives it by two minutes.
        "task_time_limit": settings.review_deadline + 120,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": REVIEW_QUEUE,
        "task_routes": {"reviewer.*": {"queue": REVIEW_QUEUE}},
        "worker_hijack_root_logger": False,
        "beat_schedule": (
            {"catch-up": {"task": SWEEP_TASK, "schedule": settings.sweep_interval}}
            if settings.sweep_interval
            else {}
        ),
    }
    return config


def create_celery(url: str, settings: Settings) -> Celery:
    """An app bound to one broker; the tasks in workers.tasks are registered on every app."""
    celery = Celery("reviewer", set_as_current=False)
    celery.conf.update(celery_config(url, settings))
    return celery


def _from_environment() -> dict[str, Any]:
    settings = load_settings()
    redaction.install(settings.secret_values())  # `celery -A workers worker` starts here, not in the CLI
    if not settings.redis_url:
        raise ConfigError(
            "a standalone worker needs REVIEWER_REDIS_URL (the broker the intake enqueues to); "
            "`reviewer serve` without it runs an embedded Redis with its own worker"
        )
    return celery_config(settings.redis_url, settings)


# For `celery -A workers ...`; `reviewer worker` builds its own app from the settings it loaded.
app = Celery("reviewer", set_as_current=False)
app.add_defaults(_from_environment)  # evaluated when the app is first configured, not at import
import workers.conversation_tasks  # noqa: E402
import workers.tasks  # noqa: E402, F401


@worker_process_shutdown.connect
def _count_no_more(pid: int | None = None, **_: object) -> None:
    """A pool child that exits: its live gauges stop counting; its counters stay in the sum."""
    metrics.process_exited(pid or os.getpid())
