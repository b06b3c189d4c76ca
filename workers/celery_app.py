"""The Celery app: Redis as broker and result backend, and the queue policy in one place.

Field notes (Celery's docs): long model calls want ``worker_prefetch_multiplier=1``; ``acks_late``
only for idempotent tasks (a review is: fingerprints and the summary edited in place make a rerun
post nothing twice); with Redis the ``visibility_timeout`` must exceed the longest task and every
retry countdown, or a message is delivered twice.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from reviewer.app import redaction
from reviewer.app.config import load_settings
from reviewer.errors import ConfigError

REVIEW_QUEUE = "reviews"
VISIBILITY_TIMEOUT_SECONDS = 2 * 3600  # > the task's hard time limit and the longest countdown
TASK_TIME_LIMIT_SECONDS = 45 * 60


def broker_url(url: str) -> str:
    """Celery's spelling of a Redis URL: a unix socket is ``redis+socket://`` there."""
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def celery_config(url: str) -> dict[str, Any]:
    broker = broker_url(url)
    return {
        "broker_url": broker,
        "result_backend": broker,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        "result_expires": 24 * 3600,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": TASK_TIME_LIMIT_SECONDS,
        "task_soft_time_limit": TASK_TIME_LIMIT_SECONDS - 60,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": REVIEW_QUEUE,
        "task_routes": {"reviewer.*": {"queue": REVIEW_QUEUE}},
        "worker_hijack_root_logger": False,
    }


def create_celery(url: str) -> Celery:
    """An app bound to one broker; the tasks in workers.tasks are shared by every app."""
    celery = Celery("reviewer", set_as_current=False)
    celery.conf.update(celery_config(url))

    return celery


def _from_environment() -> dict[str, Any]:
    settings = load_settings()
    redaction.install(settings.secret_values())  # `celery -A workers worker` starts here, not in the CLI
    if not settings.redis_url:
        raise ConfigError(
            "a standalone worker needs REVIEWER_REDIS_URL (the broker the intake enqueues to); "
            "`reviewer serve` without it runs an embedded Redis with its own worker"
        )
    return celery_config(settings.redis_url)


app = Celery("reviewer")
app.add_defaults(_from_environment)  # evaluated when the app is first configured, not at import
import workers.conversation_tasks  # noqa: E402
import workers.tasks  # noqa: E402, F401
