"""The webhook intake: ``POST /webhooks/gitlab``, ``GET /healthz``, ``GET /metrics``.

Follows GitLab's webhooks page: the secret arrives in ``X-Gitlab-Token``; ``Idempotency-Key``
(GitLab 17.4+) stays the same across retries of one delivery, ``X-Gitlab-Event-UUID`` is shared by
recursive hooks. GitLab disables a hook for a while after repeated failures (a 4xx, a 5xx or no
answer in time) and never redelivers an event that failed, so:

- the intake never answers 5xx: a delivery that deserves a review and cannot be queued right now
  (the broker is down or slow, or an internal error) goes to the local spool (reviewer.app.spool),
  is answered 202, and is queued by the drainer when the broker is back;
- a body that is not a GitLab delivery gets a 4xx with the reason; events that need no review 200.

The intake does no GitLab or model work: verify, read, classify, dedupe, queue (or spool), answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from reviewer.app import metrics
from reviewer.app.events import Ignored, ReviewJob, classify
from reviewer.app.spool import Spool, SpoolDrainer, SpooledDelivery

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
ENQUEUE_TIMEOUT_SECONDS = 2.0  # GitLab waits 10 s by default; a stuck broker must not use them up
MAX_KEY_CHARS = 200


class DeliveryLog(Protocol):
    def first_time(self, key: str) -> bool:
        """True the first time a delivery key is seen (atomically), False for repeats."""
        ...


Enqueue = Callable[[ReviewJob, str], str]
"""Queue a review job for a delivery key; returns the task id."""


class _NotQueued(Exception):
    def __init__(self, cause: BaseException, *, deduped: bool) -> None:
        super().__init__(type(cause).__name__)
        self.deduped = deduped


def token_matches(given: str | None, secrets: Sequence[str]) -> bool:
    """Constant-time comparison against every configured secret (several while rotating)."""
    if not given or not secrets:
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(given.encode(), secret.encode())
    return matched


def delivery_key(request: Request, body: bytes) -> str:
    headers = request.headers
    if headers.get("idempotency-key"):
        key = "idem:" + headers["idempotency-key"]
    elif headers.get("x-gitlab-event-uuid"):
        # Recursive hooks share the event UUID; the webhook UUID tells their deliveries apart.
        key = f"event:{headers['x-gitlab-event-uuid']}:{headers.get('x-gitlab-webhook-uuid', '')}"
    else:
        return "body:" + hashlib.sha256(body).hexdigest()
    if len(key) > MAX_KEY_CHARS:  # GitLab's are UUIDs; anything longer is hashed, not stored as is
        return "hash:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return key


class _AsciiJSON(Response):
    """JSON that always encodes: a lone surrogate echoed from a payload is escaped, not a crash."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _answer(code: int, outcome: str, **body: object) -> Response:
    """The delivery's answer, counted by outcome (a metrics failure never changes the answer)."""
    _count(lambda: metrics.WEBHOOKS.labels(outcome=outcome).inc())
    return _AsciiJSON(body, status_code=code)


def _count(increment: Callable[[], None]) -> None:
    try:
        increment()
    except Exception:  # e.g. the metrics directory's disk is full
        log.exception("could not count a metric")


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


def _enqueue_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="intake-enqueue")


def create_app(
    secrets: Sequence[str],
    enqueue: Enqueue,
    deliveries: DeliveryLog,
    *,
    spool: Spool | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    enqueue_timeout: float = ENQUEUE_TIMEOUT_SECONDS,
    drain_interval: float = 5.0,
) -> Starlette:
    """The intake. ``spool`` keeps deliveries that cannot be queued on disk (pass
    ``Spool(state_dir / "spool")``); without one they are held in this process's memory only."""
    if spool is None:
        log.warning("no delivery spool: deliveries queued while the broker is down are kept in memory only")
    # Its own threads: a broker that hangs holds these, never the threads that write the spool.
    executors = [_enqueue_threads()]

    def deliver_spooled(delivery: SpooledDelivery) -> None:
        if not delivery.deduped:
            # Mark the key so later redeliveries are duplicates. A key already marked is queued
            # anyway: it may be this very delivery's own mark, written before the store failed
            # to answer; a repeated review job costs nothing (see docs/design.md).
            deliveries.first_time(delivery.key)
        enqueue(delivery.job, delivery.key)
        _count(metrics.SPOOL_DRAINED.inc)
        log.info("queued spooled review of project %s !%s", delivery.job.project_id, delivery.job.iid)

    drainer = SpoolDrainer(spool, deliver_spooled, interval=drain_interval)

    def dedupe_and_enqueue(job: ReviewJob, key: str) -> str | None:
        try:
            first = deliveries.first_time(key)
        except Exception as exc:
            raise _NotQueued(exc, deduped=False) from exc
        if not first:
            return None
        try:
            return enqueue(job, key)
        except Exception as exc:
            raise _NotQueued(exc, deduped=True) from exc

    def keep(delivery: SpooledDelivery) -> bool:
        """Spool ``delivery``, or hold it in memory when the spool cannot take it. False when the
        same delivery is already spooled."""
        if spool is not None:
            try:
                return spool.put(delivery)
            except OSError as exc:
                log.error("the spool cannot be written (%s): holding %s in memory", exc, delivery.key)
        drainer.hold(delivery)
        return True

    async def spool_job(job: ReviewJob, key: str, *, deduped: bool, broker_down: bool) -> Response:
        delivery = SpooledDelivery(key, job, deduped, time.time())
        try:
            kept = await run_in_threadpool(keep, delivery)
        except Exception:  # not even the spool's own error handling held: keep it in memory
            log.exception("spooling %s failed", key)
            drainer.hold(delivery)
            kept = True
        if not kept:
            return _answer(200, "duplicate", status="duplicate")
        if broker_down:
            drainer.mark_broker_down()
        drainer.start()
        drainer.wake()
        return _answer(
            202, "spooled", status="spooled", project_id=job.project_id, iid=job.iid, trigger=job.trigger
        )

    async def queue_job(job: ReviewJob, key: str) -> Response:
        if drainer.broker_down:
            return await spool_job(job, key, deduped=False, broker_down=True)
        loop = asyncio.get_running_loop()
        try:
            task_id = await asyncio.wait_for(
                loop.run_in_executor(executors[0], dedupe_and_enqueue, job, key), enqueue_timeout
            )
        except (_NotQueued, TimeoutError) as exc:
            # The type only: a broker error's text can carry its URL, password included.
            cause = str(exc) if isinstance(exc, _NotQueued) else "no answer in time"
            log.warning(
                "could not queue a review of project %s !%s (%s): spooled", job.project_id, job.iid, cause
            )
            deduped = isinstance(exc, _NotQueued) and exc.deduped
            return await spool_job(job, key, deduped=deduped, broker_down=True)
        if task_id is None:
            return _answer(200, "duplicate", status="duplicate")
        log.info(
            "queued review of project %s !%s (%s) delivery %s", job.project_id, job.iid, job.trigger, key
        )
        return _answer(
            202,
            "queued",
            status="queued",
            project_id=job.project_id,
            iid=job.iid,
            trigger=job.trigger,
            task_id=task_id,
        )

    async def accept(job: ReviewJob, request: Request, body: bytes) -> Response:
        key = "body:" + hashlib.sha256(body).hexdigest()
        try:
            key = delivery_key(request, body)
            return await queue_job(job, key)
        except Exception:  # a bug once the delivery is known to deserve a review: keep the job
            log.exception("internal error while queueing project %s !%s: spooled", job.project_id, job.iid)
            return await spool_job(job, key, deduped=False, broker_down=False)

    async def read(request: Request) -> Response:
        if not token_matches(request.headers.get("x-gitlab-token"), secrets):
            reason = "webhook secret not configured" if not secrets else "invalid X-Gitlab-Token"
            return _answer(401, "rejected", status="rejected", reason=reason)
        if not _is_json(request.headers.get("content-type")):
            return _answer(415, "invalid", status="rejected", reason="Content-Type must be application/json")
        try:
            body = await _read_body(request, max_body_bytes)
        except _TooLarge:
            return _answer(413, "invalid", status="rejected", reason=f"body over {max_body_bytes} bytes")
        try:
            payload = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            return _answer(400, "invalid", status="rejected", reason="body is not UTF-8")
        except RecursionError:
            return _answer(400, "invalid", status="rejected", reason="body is JSON nested too deeply")
        except ValueError:
            return _answer(400, "invalid", status="rejected", reason="body is not JSON")
        if not isinstance(payload, dict):
            return _answer(400, "invalid", status="rejected", reason="body is not a JSON object")
        decision = classify(request.headers.get("x-gitlab-event"), payload)
        if isinstance(decision, Ignored):
            return _answer(200, "ignored", status="ignored", reason=decision.reason)
        return await accept(decision, request, body)

    async def webhook(request: Request) -> Response:
        try:
            return await read(request)
        except ClientDisconnect:
            return _answer(400, "invalid", status="rejected", reason="the body did not arrive")
        except Exception:  # last resort, before any job exists: a bug must not become a 5xx
            log.exception("the intake could not read a delivery")
            return _answer(400, "error", status="rejected", reason="the intake could not read this delivery")

    async def healthz(request: Request) -> Response:
        return _AsciiJSON(
            {
                "status": "ok",
                "queue": "unavailable" if drainer.broker_down else "ok",
                "spooled": drainer.pending(),
            }
        )

    class _SpoolGauge:
        def collect(self) -> Iterator[Metric]:
            yield GaugeMetricFamily(
                "reviewer_spooled_deliveries",
                "Review jobs waiting in the local spool for the queue",
                value=drainer.pending(),
            )

    async def metrics_endpoint(request: Request) -> Response:
        registry = metrics.scrape_registry(_SpoolGauge())
        return Response(await run_in_threadpool(generate_latest, registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        drainer.start()  # its first pass queues what a previous run left in the spool
        try:
            yield
        finally:
            drainer.stop()
            # A fresh pool (its threads start on demand) in case the app is started again.
            stopped, executors[0] = executors[0], _enqueue_threads()
            stopped.shutdown(wait=False, cancel_futures=True)

    app = Starlette(
        routes=[
            Route("/webhooks/gitlab", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.drainer = drainer
    return app
