"""The webhook intake: ``POST /webhooks/gitlab``, ``GET /healthz``, ``GET /metrics``.

Follows GitLab's webhooks page: the secret arrives in ``X-Gitlab-Token``; ``Idempotency-Key``
(GitLab 17.4+) stays the same across retries of one delivery, ``X-Gitlab-Event-UUID`` is shared by
recursive hooks; GitLab disables a hook after repeated failures and 4xx answers count against it,
so events that need no review are acknowledged with 200, never refused.

The intake does no GitLab or model work: verify, classify, dedupe, enqueue, answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reviewer.app import metrics
from reviewer.app.events import Ignored, ReviewJob, classify

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024


class DeliveryLog(Protocol):
    def first_time(self, key: str) -> bool:
        """True the first time a delivery key is seen (atomically), False for repeats."""
        ...

    def forget(self, key: str) -> None:
        """Undo ``first_time`` for a delivery that could not be queued, so a redelivery counts."""
        ...


Enqueue = Callable[[ReviewJob, str], str]
"""Queue a review job for a delivery key; returns the task id."""


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
        return "idem:" + headers["idempotency-key"]
    event_uuid = headers.get("x-gitlab-event-uuid")
    if event_uuid:
        # Recursive hooks share the event UUID; the webhook UUID tells their deliveries apart.
        return f"event:{event_uuid}:{headers.get('x-gitlab-webhook-uuid', '')}"
    return "body:" + hashlib.sha256(body).hexdigest()


def _answer(code: int, outcome: str, **body: object) -> Response:
    """The delivery's answer, counted by outcome."""
    metrics.WEBHOOKS.labels(outcome=outcome).inc()
    return JSONResponse(body, status_code=code)


def create_app(secrets: Sequence[str], enqueue: Enqueue, deliveries: DeliveryLog) -> Starlette:
    def _dedupe_and_enqueue(job: ReviewJob, key: str) -> str | None:
        if not deliveries.first_time(key):
            return None
        try:
            return enqueue(job, key)
        except BaseException:
            deliveries.forget(key)
            raise

    async def webhook(request: Request) -> Response:
        if not token_matches(request.headers.get("x-gitlab-token"), secrets):
            reason = "webhook secret not configured" if not secrets else "invalid X-Gitlab-Token"
            return _answer(401, "rejected", status="rejected", reason=reason)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _answer(413, "invalid", status="rejected", reason="payload too large")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _answer(400, "invalid", status="rejected", reason="body is not JSON")
        if not isinstance(payload, dict):
            return _answer(400, "invalid", status="rejected", reason="body is not a JSON object")
        decision = classify(request.headers.get("x-gitlab-event"), payload)
        if isinstance(decision, Ignored):
            return _answer(200, "ignored", status="ignored", reason=decision.reason)
        key = delivery_key(request, body)
        try:
            task_id = await run_in_threadpool(_dedupe_and_enqueue, decision, key)
        except Exception as exc:  # the queue's border: the broker is down or refused the message
            # The type only: a broker error's text can carry its URL, password included.
            log.error(
                "could not enqueue a review of project %s !%s: %s",
                decision.project_id,
                decision.iid,
                type(exc).__name__,
            )
            return _answer(503, "enqueue_failed", status="error", reason="queue unavailable")
        if task_id is None:
            return _answer(200, "duplicate", status="duplicate")
        log.info(
            "queued review of project %s !%s (%s) delivery %s",
            decision.project_id,
            decision.iid,
            decision.trigger,
            key,
        )
        return _answer(
            202,
            "queued",
            status="queued",
            project_id=decision.project_id,
            iid=decision.iid,
            trigger=decision.trigger,
            task_id=task_id,
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/webhooks/gitlab", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
