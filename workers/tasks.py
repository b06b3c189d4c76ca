"""Thin Celery tasks: primitives in, reviewer.pipeline called, our TransientError turned into a retry."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

import redis
from celery import Task, shared_task

from reviewer.app.config import load_settings
from reviewer.app.review_metrics import PrometheusObserver
from reviewer.app.services import Services, build_services
from reviewer.app.state import ReviewLedger, connect
from reviewer.errors import ConfigError, TransientError
from reviewer.pipeline import ReviewRequest, review_merge_request

log = logging.getLogger(__name__)

MAX_RETRIES = 6
MAX_LOCK_WAITS = 30
LOCK_SECONDS = 50 * 60  # longer than the task time limit

_services: Services | None = None
_ledger: ReviewLedger | None = None
_guard = threading.Lock()


def install(services: Services, ledger: ReviewLedger) -> None:
    """Give this process's tasks their services (the embedded worker and tests do this)."""
    global _services, _ledger
    with _guard:
        _services, _ledger = services, ledger


def _current() -> tuple[Services, ReviewLedger]:
    """The services of this worker process, built from the environment on first use."""
    global _services, _ledger
    with _guard:
        if _services is None or _ledger is None:
            settings = load_settings()
            if not settings.redis_url:
                raise ConfigError("a standalone worker needs REVIEWER_REDIS_URL")
            _services = build_services(settings)
            _ledger = ReviewLedger(connect(settings.redis_url))
        return _services, _ledger


def retry_countdown(exc: TransientError, retries: int) -> float:
    """Exponential backoff with jitter, at least what the peer asked for, at most ten minutes."""
    backoff = min(600.0, 15.0 * 2**retries) * random.uniform(0.8, 1.2)
    return min(600.0, max(backoff, exc.retry_after or 0.0))


class ReviewTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        log.error("review task %s failed: %s: %s", task_id, type(exc).__name__, exc)


@shared_task(bind=True, base=ReviewTask, name="reviewer.review_merge_request", max_retries=MAX_RETRIES)
def review_merge_request_task(
    self: Task, project_id: int, iid: int, trigger: str, delivery: str = "", note_id: int | None = None
) -> dict[str, Any]:
    services, ledger = _current()
    if services.gitlab is None:
        raise ConfigError("REVIEWER_GITLAB_URL is not set: this worker cannot read merge requests")
    lock = ledger.lock(project_id, iid, seconds=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        raise self.retry(countdown=random.uniform(5, 15), max_retries=MAX_RETRIES + MAX_LOCK_WAITS)
    try:
        outcome = review_merge_request(
            services.engine,
            services.gitlab,
            ReviewRequest(project_id, iid, trigger, delivery=delivery, note_id=note_id),
            ledger=ledger,
            catalog=services.catalog,
            observer=PrometheusObserver(),
        )
    except (TransientError, redis.RedisError) as exc:
        transient = exc if isinstance(exc, TransientError) else TransientError(f"Redis: {type(exc).__name__}")
        log.warning("review of %s!%s will be retried: %s", project_id, iid, transient)
        raise self.retry(exc=transient, countdown=retry_countdown(transient, self.request.retries)) from None
    finally:
        try:
            if lock.owned():
                lock.release()
        except redis.RedisError:
            pass  # the lock expires by itself
    log.info("review of %s!%s (%s, delivery %s): %s", project_id, iid, trigger, delivery, outcome.status)
    return outcome.as_dict()
