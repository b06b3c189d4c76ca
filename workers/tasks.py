"""Thin Celery tasks: ids in, reviewer.pipeline called, every failure turned into a retry or a note.

The policy (docs/design.md, "Failure, by design"):
- one review of an MR at a time: a renewed lock (reviewer.app.locks); a job that finds its MR
  locked waits with a retry that spends its own budget (``lock_waits``), never the one for failures;
- a transient failure (GitLab 5xx or 429, the gateway, Redis, a lost lock) is retried with backoff,
  at most REVIEWER_MAX_RETRIES times (``transient_retries``), each delay below the visibility timeout;
- a review runs within REVIEWER_REVIEW_DEADLINE, checked at every GitLab and model call;
- a review that fails for good says so in the MR's summary note and counts in a metric;
- a copy of a finished job (Redis redelivers the job of a worker it thinks dead) answers with the
  outcome recorded for that job instead of reviewing again;
- every finished job leaves a record for the platform pages (reviewer.app.records); a record that
  cannot be written is logged, never a reason to fail or repeat a review.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

import redis
from celery import Celery, Task, shared_task

from reviewer.app import metrics
from reviewer.app.config import Settings, load_settings
from reviewer.app.events import ReviewJob
from reviewer.app.locks import HeldLock, JobOutcomes, MergeRequestLocks
from reviewer.app.recording import ReviewCapture
from reviewer.app.records import ReviewRecords
from reviewer.app.review_metrics import PrometheusObserver
from reviewer.app.services import Services, build_gitlab, build_services
from reviewer.app.state import ReviewLedger, connect
from reviewer.app.sweep import ReviewedProjects, SweepClaims, Unreviewed, sweep
from reviewer.deadline import Deadline, within
from reviewer.errors import ConfigError, GitLabError, ReviewerError, ReviewStopped, TransientError
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.publish import report_failure
from reviewer.pipeline import ReviewRequest, review_merge_request
from workers.celery_app import REVIEW_TASK, SWEEP_TASK

log = logging.getLogger(__name__)


@dataclass
class WorkerState:
    """What this process's tasks use. The services are built on first use, in the worker: a model
    setting that cannot work fails the reviews (and says so on the MR), not the process."""

    settings: Settings
    redis_url: str
    problem: str | None = None  # a configuration problem found when the process started
    _services: Services | None = field(default=None, init=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        client = connect(self.redis_url)
        self.ledger = ReviewLedger(client)
        self.locks = MergeRequestLocks(client, ttl=self.settings.lock_ttl)
        self.outcomes = JobOutcomes(client)
        self.projects = ReviewedProjects(client)
        self.claims = SweepClaims(client)
        self.records = ReviewRecords(client)

    def services(self) -> Services:
        if self.problem:
            raise ConfigError(self.problem)
        with self._guard:
            if self._services is None:
                self._services = build_services(self.settings)
            return self._services

    def gitlab(self) -> GitLabClient | None:
        """GitLab alone, to report a failure even when the rest cannot be built."""
        if self._services is not None:
            return self._services.gitlab
        return build_gitlab(self.settings)


_state: WorkerState | None = None
_state_guard = threading.Lock()


def configure(settings: Settings, redis_url: str, problem: str | None = None) -> None:
    """Set this process's worker state (`reviewer worker`, the embedded worker of `serve`)."""
    global _state
    with _state_guard:
        _state = WorkerState(settings, redis_url, problem)


def _worker() -> WorkerState:
    global _state
    with _state_guard:
        if _state is None:  # `celery -A workers worker`: from the environment, on first use
            settings = load_settings()
            if not settings.redis_url:
                raise ConfigError("a standalone worker needs REVIEWER_REDIS_URL")
            _state = WorkerState(settings, settings.redis_url)
        return _state


def worker_state() -> WorkerState:
    """This process's worker state (shared with workers.conversation_tasks)."""
    return _worker()


def enqueue_review(app: Celery, job: ReviewJob, delivery: str) -> str:
    """Queue a review of ``job`` on ``app``'s broker, through the task registered on that app
    (its arguments are checked against the task's signature here, not in the worker)."""
    task: Task = app.tasks[REVIEW_TASK]
    result = task.apply_async(
        kwargs={
            "project_id": job.project_id,
            "iid": job.iid,
            "trigger": job.trigger,
            "head_sha": job.head_sha,
            "requested_by": job.requested_by,
            "delivery": delivery,
            "note_id": job.note_id,
            "enqueued_at": time.time(),
        }
    )
    return str(result.id)


def retry_countdown(exc: TransientError, retries: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter, at least what the peer asked for, never above ``cap``."""
    backoff = base * 2**retries * random.uniform(0.8, 1.2)
    return min(cap, max(backoff, exc.retry_after or 0.0))


def retry_later(task: Task, budget: str, countdown: float) -> NoReturn:
    """Run ``task`` again in ``countdown`` seconds, one more spent on its ``budget`` counter
    (``lock_waits`` or ``transient_retries``, task kwargs kept apart so one never spends the other)."""
    spent = int(task.request.kwargs.get(budget, 0))
    raise task.retry(kwargs={**task.request.kwargs, budget: spent + 1}, countdown=countdown, max_retries=None)


def lock_wait_countdown(settings: Settings) -> float:
    """How long to wait for an MR another job holds: a dead holder's lock lapses within the TTL."""
    return random.uniform(0.3, 0.6) * settings.lock_ttl


def lock_wait_budget(settings: Settings) -> int:
    """Lock waits enough to outlast any review: a holder stops at its deadline, and a dead holder's
    lock expires within its TTL."""
    shortest_wait = 0.3 * settings.lock_ttl
    return math.ceil((settings.review_deadline + settings.lock_ttl) / shortest_wait) + 2


class ReviewTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        log.error("review task %s failed: %s: %s", task_id, type(exc).__name__, exc)


@shared_task(bind=True, base=ReviewTask, name=REVIEW_TASK, max_retries=None)
def review_merge_request_task(
    self: Task,
    project_id: int,
    iid: int,
    trigger: str,
    head_sha: str | None = None,
    requested_by: int | None = None,
    delivery: str = "",
    enqueued_at: float | None = None,
    transient_retries: int = 0,
    lock_waits: int = 0,
    note_id: int | None = None,
) -> dict[str, Any]:
    started_at = time.time()
    job = ReviewJob(project_id, iid, trigger, head_sha, requested_by, note_id)
    worker = _worker()
    if enqueued_at is not None and transient_retries == lock_waits == 0:
        metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, time.time() - enqueued_at))
    deadline = Deadline(worker.settings.review_deadline)
    capture = ReviewCapture(PrometheusObserver(), started_at=started_at)
    try:
        held = worker.locks.try_hold(project_id, iid, on_lost=deadline.cancel)
    except redis.RedisError as exc:
        return _retry_or_fail(self, worker, job, _redis_error(exc), None, capture)
    if held is None:
        return _wait_for_lock(self, worker, job, lock_waits)
    with held:
        try:
            result = _review(self, worker, job, deadline, capture)
        except (TransientError, redis.RedisError) as exc:
            failure: ReviewerError = exc if isinstance(exc, TransientError) else _redis_error(exc)
        except ReviewStopped as exc:  # a lost lock is worth another try; a passed deadline is not
            failure = TransientError(str(exc)) if held.lost.is_set() else exc
        except ReviewerError as exc:
            failure = exc
        except Exception as exc:  # a bug: its text may hold anything, so only its type goes to the MR
            log.exception("review of %s!%s crashed", project_id, iid)
            failure = InternalError(
                f"an internal error ({type(exc).__name__}); the worker's log has the details"
            )
        else:
            return result
        return _retry_or_fail(self, worker, job, failure, held, capture)


def _review(
    task: Task, worker: WorkerState, job: ReviewJob, deadline: Deadline, capture: ReviewCapture
) -> dict[str, Any]:
    task_id = str(task.request.id)
    finished = worker.outcomes.get(task_id)
    if finished is not None:
        log.info("job %s (%s!%s) had finished already: %s", task_id, job.project_id, job.iid, finished)
        return finished
    worker.projects.touch(job.project_id)
    services = worker.services()
    if services.gitlab is None:
        raise ConfigError("REVIEWER_GITLAB_URL is not set: this worker cannot read merge requests")
    request = ReviewRequest(
        job.project_id,
        job.iid,
        job.trigger,
        head_sha=job.head_sha,
        requested_by=job.requested_by,
        job_id=task_id,
        note_id=job.note_id,
        delivery=str(task.request.kwargs.get("delivery") or ""),
    )
    with within(deadline):
        outcome = review_merge_request(
            services.engine,
            services.gitlab,
            request,
            ledger=worker.ledger,
            catalog=services.catalog,
            observer=capture,
        )
    log.info("job %s, %s!%s (%s): %s", task_id, job.project_id, job.iid, job.trigger, outcome.status)
    return _finish(worker, task_id, {**outcome.as_dict(), "started_at": capture.started_at}, job, capture)


def _wait_for_lock(task: Task, worker: WorkerState, job: ReviewJob, lock_waits: int) -> dict[str, Any]:
    settings = worker.settings
    if lock_waits >= lock_wait_budget(settings):
        metrics.REVIEW_FAILURES.labels(reason="lock_wait").inc()
        log.error("review of %s!%s dropped: its MR stayed locked too long", job.project_id, job.iid)
        return {"status": "skipped", "reason": "the merge request stayed locked by another review"}
    retry_later(task, "lock_waits", lock_wait_countdown(settings))


def _retry_or_fail(
    task: Task,
    worker: WorkerState,
    job: ReviewJob,
    failure: ReviewerError,
    held: HeldLock | None,
    capture: ReviewCapture,
) -> dict[str, Any]:
    settings = worker.settings
    retries = int(task.request.kwargs.get("transient_retries", 0))
    if isinstance(failure, TransientError) and retries < settings.max_retries:
        countdown = retry_countdown(failure, retries, base=settings.retry_backoff, cap=settings.max_countdown)
        log.warning(
            "review of %s!%s will be retried in %.1f s (%d of %d): %s",
            job.project_id,
            job.iid,
            countdown,
            retries + 1,
            settings.max_retries,
            failure,
        )
        retry_later(task, "transient_retries", countdown)
    what = str(failure)
    if isinstance(failure, TransientError):
        what = f"{failure} (tried {retries + 1} times)"
    return _fail(worker, job, str(task.request.id), failure, what, capture, can_write=held is not None)


def _fail(
    worker: WorkerState,
    job: ReviewJob,
    task_id: str,
    failure: ReviewerError,
    what: str,
    capture: ReviewCapture,
    *,
    can_write: bool,
) -> dict[str, Any]:
    """A review that failed for good: counted, logged and, while this job holds the MR's lock,
    written into the summary note (unless the head was reviewed meanwhile by another job)."""
    metrics.REVIEW_FAILURES.labels(reason=_reason(failure)).inc()
    log.error("review of %s!%s failed for good: %s", job.project_id, job.iid, what)
    try:
        reviewed = worker.ledger.last_reviewed(job.project_id, job.iid)
        superseded = job.trigger != "command" and job.head_sha is not None and reviewed == job.head_sha
        gitlab = worker.gitlab() if can_write and not superseded else None
        if gitlab is not None:
            report_failure(gitlab, job.project_id, job.iid, head_sha=job.head_sha, what_failed=what)
    except (ReviewerError, redis.RedisError) as exc:  # the sweep comes back to a head never reviewed
        log.warning("could not write the failure of %s!%s into its summary: %s", job.project_id, job.iid, exc)
    outcome = {"status": "failed", "reason": what, "head_sha": job.head_sha}
    return _finish(worker, task_id, outcome, job, capture)


def _finish(
    worker: WorkerState, task_id: str, outcome: dict[str, Any], job: ReviewJob, capture: ReviewCapture
) -> dict[str, Any]:
    outcome = {**outcome, "finished_at": time.time()}
    try:
        worker.outcomes.put(task_id, outcome)
    except redis.RedisError as exc:  # a redelivered copy then finds the head reviewed in the ledger
        log.warning("could not record the outcome of job %s: %s", task_id, type(exc).__name__)
    try:
        worker.records.add(capture.record(task_id, job.project_id, job.iid, job.trigger, outcome))
    except Exception as exc:  # the pages lose a line; the review stands
        log.warning("could not keep the record of job %s for the pages: %s", task_id, type(exc).__name__)
    return outcome


class InternalError(ReviewerError):
    """An exception the review did not expect, reported without its message."""


def _reason(failure: ReviewerError) -> str:
    if isinstance(failure, TransientError):
        return "retries_exhausted"
    if isinstance(failure, ReviewStopped):
        return "deadline"
    if isinstance(failure, ConfigError):
        return "configuration"
    if isinstance(failure, GitLabError):
        return "gitlab"
    if isinstance(failure, InternalError):
        return "internal"
    return type(failure).__name__.lower()


def _redis_error(exc: redis.RedisError) -> TransientError:
    return TransientError(f"Redis: {type(exc).__name__}")


@shared_task(bind=True, name=SWEEP_TASK, ignore_result=True)
def catch_up_task(self: Task) -> int:
    """The periodic catch-up sweep (reviewer.app.sweep): queue MRs whose head was never reviewed."""
    worker = _worker()
    settings = worker.settings

    def enqueue(mr: Unreviewed) -> None:
        job = ReviewJob(mr.project_id, mr.iid, "sweep", mr.head_sha)
        enqueue_review(self.app, job, f"sweep:{mr.project_id}:{mr.iid}:{mr.head_sha}")

    try:
        gitlab = worker.gitlab()
        if gitlab is None:
            return 0
        queued = sweep(
            gitlab,
            worker.ledger,
            worker.projects,
            worker.claims,
            enqueue,
            interval=settings.sweep_interval,
            horizon=settings.sweep_horizon,
            pause=settings.sweep_pause,
        )
    except (ReviewerError, redis.RedisError) as exc:  # the next sweep tries again
        log.warning("catch-up sweep failed: %s: %s", type(exc).__name__, exc)
        return 0
    return len(queued)
