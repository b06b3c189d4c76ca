"""The thin task for people's notes and reactions: ids in, ``reviewer.app.conversations`` called.

A review a command asks for runs here, under the MR's lock like any review (a busy lock is a
retry later). Every step of handling a note is safe to repeat, so a retried task answers as the
first attempt would have, and never twice.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

import redis
from celery import Task, shared_task

from reviewer.app.config import load_settings
from reviewer.app.conversations import handle_note, handle_reaction
from reviewer.app.events import NOTE, REACTION, ReviewJob
from reviewer.app.people import Context, ConversationConfig
from reviewer.app.review_metrics import PrometheusObserver
from reviewer.app.services import Services, build_services
from reviewer.app.state import ReviewLedger, connect
from reviewer.errors import ConfigError, TransientError
from reviewer.pipeline import ReviewRequest, review_merge_request
from workers.tasks import LOCK_SECONDS, MAX_LOCK_WAITS, MAX_RETRIES, retry_countdown

log = logging.getLogger(__name__)

TASK_NAME = "reviewer.handle_conversation"
TRIGGERS = (NOTE, REACTION)

_context: Context | None = None
_guard = threading.Lock()


class _LockBusy(Exception):
    pass


def install(services: Services, ledger: ReviewLedger, config: ConversationConfig) -> None:
    """Give this process's conversation task its services (the embedded worker and tests)."""
    global _context
    if services.gitlab is None:
        raise ConfigError("REVIEWER_GITLAB_URL is not set: notes cannot be answered")
    with _guard:
        _context = Context(services.gitlab, services.engine, ledger, services.catalog, config)


def _current() -> Context:
    global _context
    with _guard:
        if _context is None:
            settings = load_settings()
            if not settings.redis_url:
                raise ConfigError("a standalone worker needs REVIEWER_REDIS_URL")
            services = build_services(settings)
            if services.gitlab is None:
                raise ConfigError("REVIEWER_GITLAB_URL is not set: notes cannot be answered")
            ledger = ReviewLedger(connect(settings.redis_url))
            config = ConversationConfig.from_settings(settings)
            _context = Context(services.gitlab, services.engine, ledger, services.catalog, config)
        return _context


def enqueue(celery: Any, job: ReviewJob, delivery: str) -> str:
    """Queue a note or reaction job on ``celery`` (the task object registered there)."""
    task = celery.tasks[TASK_NAME]
    result = task.apply_async(
        kwargs={
            "project_id": job.project_id,
            "iid": job.iid,
            "trigger": job.trigger,
            "delivery": delivery,
            "note_id": job.note_id,
            "discussion_id": job.discussion_id,
            "user_id": job.requested_by,
        }
    )
    return str(result.id)


class ConversationTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        log.error("conversation task %s failed: %s: %s", task_id, type(exc).__name__, exc)


@shared_task(bind=True, base=ConversationTask, name=TASK_NAME, max_retries=MAX_RETRIES)
def handle_conversation_task(
    self: Task,
    project_id: int,
    iid: int,
    trigger: str,
    delivery: str = "",
    note_id: int | None = None,
    discussion_id: str | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    ctx = _current()
    if note_id is None:
        return {"status": "ignored", "detail": "no note"}

    def run_review(request: ReviewRequest) -> dict[str, object]:
        lock = ctx.ledger.lock(project_id, iid, seconds=LOCK_SECONDS)
        if not lock.acquire(blocking=False):
            raise _LockBusy
        try:
            outcome = review_merge_request(
                ctx.engine,
                ctx.gitlab,
                request,
                ledger=ctx.ledger,
                catalog=ctx.catalog,
                observer=PrometheusObserver(),
            )
        finally:
            try:
                if lock.owned():
                    lock.release()
            except redis.RedisError:
                pass  # the lock expires by itself
        return outcome.as_dict()

    try:
        if trigger == REACTION and user_id is not None:
            outcome = handle_reaction(ctx, project_id, iid, note_id, discussion_id, user_id)
        else:
            outcome = handle_note(ctx, project_id, iid, note_id, discussion_id, run_review, delivery)
    except _LockBusy:
        raise self.retry(countdown=random.uniform(5, 15), max_retries=MAX_RETRIES + MAX_LOCK_WAITS) from None
    except (TransientError, redis.RedisError) as exc:
        transient = exc if isinstance(exc, TransientError) else TransientError(f"Redis: {type(exc).__name__}")
        log.warning("note %s on %s!%s will be handled again: %s", note_id, project_id, iid, transient)
        raise self.retry(exc=transient, countdown=retry_countdown(transient, self.request.retries)) from None
    log.info(
        "note %s on %s!%s (%s, delivery %s): %s", note_id, project_id, iid, trigger, delivery, outcome.status
    )
    return outcome.as_dict()
