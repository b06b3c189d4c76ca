"""The thin task for people's notes and reactions: ids in, ``reviewer.app.conversations`` called.

It follows the review task's policy (workers/tasks.py): a review a command asks for runs here under
the MR's renewed lock (reviewer.app.locks), and a busy lock is a retry that spends its own budget
(``lock_waits``); a transient failure is retried with backoff at most REVIEWER_MAX_RETRIES times
(``transient_retries``); the whole job runs within REVIEWER_REVIEW_DEADLINE; a review that fails for
good says so in the MR's summary note; a finished review leaves a record for the pages. Every step
of handling a note is safe to repeat, so a retried task answers as the first attempt would have,
and never twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any

import redis
from celery import Celery, Task, shared_task

from reviewer.app import metrics
from reviewer.app.conversations import handle_note, handle_reaction
from reviewer.app.events import NOTE, REACTION, ReviewJob
from reviewer.app.people import Context, ConversationConfig
from reviewer.app.recording import ReviewCapture
from reviewer.app.review_metrics import PrometheusObserver
from reviewer.deadline import Deadline, within
from reviewer.errors import ConfigError, ReviewerError, ReviewStopped, TransientError
from reviewer.gitlab.publish import report_failure
from reviewer.pipeline import ReviewRequest, review_merge_request
from workers.tasks import (
    WorkerState,
    lock_wait_budget,
    lock_wait_countdown,
    retry_countdown,
    retry_later,
    worker_state,
)

log = logging.getLogger(__name__)

TASK_NAME = "reviewer.handle_conversation"
TRIGGERS = (NOTE, REACTION)

_context: tuple[WorkerState, Context] | None = None
_guard = threading.Lock()


class _LockBusy(Exception):
    pass


class _ReviewFailed(Exception):
    """A review a command asked for failed for a reason another try would not change."""

    def __init__(self, failure: ReviewerError) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _current(worker: WorkerState) -> Context:
    """This process's conversation context, built from the worker state on first use."""
    global _context
    with _guard:
        if _context is None or _context[0] is not worker:
            services = worker.services()
            if services.gitlab is None:
                raise ConfigError("REVIEWER_GITLAB_URL is not set: notes cannot be answered")
            config = ConversationConfig.from_settings(worker.settings)
            context = Context(services.gitlab, services.engine, worker.ledger, services.catalog, config)
            _context = (worker, context)
        return _context[1]


def enqueue(celery: Celery, job: ReviewJob, delivery: str) -> str:
    """Queue a note or reaction job on ``celery``, through the task registered on that app."""
    task: Task = celery.tasks[TASK_NAME]
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


@shared_task(bind=True, base=ConversationTask, name=TASK_NAME, max_retries=None)
def handle_conversation_task(
    self: Task,
    project_id: int,
    iid: int,
    trigger: str,
    delivery: str = "",
    note_id: int | None = None,
    discussion_id: str | None = None,
    user_id: int | None = None,
    transient_retries: int = 0,
    lock_waits: int = 0,
) -> dict[str, Any]:
    if note_id is None:
        return {"status": "ignored", "detail": "no note"}
    worker = worker_state()
    settings = worker.settings
    ctx = _current(worker)
    task_id = str(self.request.id)
    deadline = Deadline(settings.review_deadline)
    reviewing: list[bool] = []  # a review ran: its final failure goes into the summary note

    def run_review(request: ReviewRequest) -> dict[str, object]:
        held = worker.locks.try_hold(project_id, iid, on_lost=deadline.cancel)
        if held is None:
            raise _LockBusy
        capture = ReviewCapture(PrometheusObserver(), started_at=time.time())
        reviewing.append(True)
        with held:
            try:
                outcome = review_merge_request(
                    ctx.engine,
                    ctx.gitlab,
                    replace(request, job_id=task_id),
                    ledger=ctx.ledger,
                    catalog=ctx.catalog,
                    observer=capture,
                )
            except ReviewStopped as exc:  # a lost lock is worth another try; a passed deadline is not
                if held.lost.is_set():
                    raise TransientError(str(exc)) from exc
                raise _ReviewFailed(exc) from exc
            except TransientError:
                raise
            except ReviewerError as exc:
                raise _ReviewFailed(exc) from exc
        result = {**outcome.as_dict(), "started_at": capture.started_at, "finished_at": time.time()}
        try:
            worker.records.add(capture.record(task_id, project_id, iid, request.trigger, result))
        except Exception as exc:  # the pages lose a line; the review stands
            log.warning("could not keep the record of job %s for the pages: %s", task_id, type(exc).__name__)
        return result

    try:
        with within(deadline):
            if trigger == REACTION and user_id is not None:
                outcome = handle_reaction(ctx, project_id, iid, note_id, discussion_id, user_id)
            else:
                outcome = handle_note(ctx, project_id, iid, note_id, discussion_id, run_review, delivery)
    except _LockBusy:
        if lock_waits >= lock_wait_budget(settings):
            metrics.REVIEW_FAILURES.labels(reason="lock_wait").inc()
            log.error("note %s on %s!%s dropped: its MR stayed locked too long", note_id, project_id, iid)
            return {"status": "skipped", "detail": "the merge request stayed locked by another review"}
        retry_later(self, "lock_waits", lock_wait_countdown(settings))
    except _ReviewFailed as exc:
        return _failed(ctx, project_id, iid, note_id, str(exc.failure), report=True)
    except (TransientError, redis.RedisError) as exc:
        transient = exc if isinstance(exc, TransientError) else TransientError(f"Redis: {type(exc).__name__}")
        if transient_retries >= settings.max_retries:
            what = f"{transient} (tried {transient_retries + 1} times)"
            return _failed(ctx, project_id, iid, note_id, what, report=bool(reviewing))
        log.warning("note %s on %s!%s will be handled again: %s", note_id, project_id, iid, transient)
        countdown = retry_countdown(
            transient, transient_retries, base=settings.retry_backoff, cap=settings.max_countdown
        )
        retry_later(self, "transient_retries", countdown)
    except ReviewStopped as exc:  # the deadline passed while answering
        log.error("note %s on %s!%s not handled: %s", note_id, project_id, iid, exc)
        return {"status": "failed", "detail": str(exc)}
    log.info(
        "note %s on %s!%s (%s, delivery %s): %s", note_id, project_id, iid, trigger, delivery, outcome.status
    )
    return outcome.as_dict()


def _failed(
    ctx: Context, project_id: int, iid: int, note_id: int, what: str, *, report: bool
) -> dict[str, Any]:
    """A note whose handling failed for good; when it ran a review, the summary note says so."""
    log.error("note %s on %s!%s failed for good: %s", note_id, project_id, iid, what)
    metrics.REVIEW_FAILURES.labels(reason="conversation").inc()
    if not report:
        return {"status": "failed", "detail": what}
    try:
        report_failure(ctx.gitlab, project_id, iid, head_sha=None, what_failed=what)
    except (ReviewerError, redis.RedisError) as exc:
        log.warning("could not write the failure of %s!%s into its summary: %s", project_id, iid, exc)
    return {"status": "failed", "detail": what}
