from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from reviewer.app.events import ReviewJob
from reviewer.app.web import create_app, token_matches

SECRET = "s3cret-token"


class MemoryDeliveries:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_time(self, key: str) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def forget(self, key: str) -> None:
        self.seen.discard(key)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.jobs: list[tuple[ReviewJob, str]] = []
        self.fail = fail

    def __call__(self, job: ReviewJob, key: str) -> str:
        if self.fail:
            raise ConnectionError("broker down")
        self.jobs.append((job, key))
        return f"task-{len(self.jobs)}"


def _client(enqueue: Recorder, deliveries: MemoryDeliveries | None = None, secrets=(SECRET,)) -> TestClient:
    return TestClient(create_app(secrets, enqueue, deliveries or MemoryDeliveries()))


OPEN = {
    "object_kind": "merge_request",
    "project": {"id": 9},
    "object_attributes": {"iid": 4, "action": "open", "state": "opened", "last_commit": {"id": "c0ffee"}},
}


def _headers(**extra: str) -> dict[str, str]:
    return {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": SECRET, **extra}


def test_open_event_is_queued_with_202() -> None:
    enqueue = Recorder()
    response = _client(enqueue).post(
        "/webhooks/gitlab", json=OPEN, headers=_headers(**{"Idempotency-Key": "k1"})
    )
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["task_id"] == "task-1"
    assert enqueue.jobs == [(ReviewJob(9, 4, "opened", "c0ffee"), "idem:k1")]


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET + "x"])
def test_wrong_or_missing_token_is_refused_and_nothing_is_queued(token: str | None) -> None:
    enqueue = Recorder()
    headers = _headers()
    if token is None:
        del headers["X-Gitlab-Token"]
    else:
        headers["X-Gitlab-Token"] = token
    response = _client(enqueue).post("/webhooks/gitlab", json=OPEN, headers=headers)
    assert response.status_code == 401
    assert enqueue.jobs == []
    assert SECRET not in response.text


def test_without_a_configured_secret_every_delivery_is_refused() -> None:
    enqueue = Recorder()
    response = _client(enqueue, secrets=()).post("/webhooks/gitlab", json=OPEN, headers=_headers())
    assert response.status_code == 401
    assert "not configured" in response.json()["reason"]


def test_rotated_secrets_are_all_accepted() -> None:
    assert token_matches("old", ["new", "old"])
    assert not token_matches("older", ["new", "old"])


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_malformed_body_gets_a_clear_400(body: bytes) -> None:
    enqueue = Recorder()
    response = _client(enqueue).post("/webhooks/gitlab", content=body, headers=_headers())
    assert response.status_code == 400
    assert response.json()["status"] == "rejected"
    assert enqueue.jobs == []


def test_redelivery_with_the_same_idempotency_key_is_queued_once() -> None:
    enqueue = Recorder()
    client = _client(enqueue)
    headers = _headers(**{"Idempotency-Key": "same"})
    first = client.post("/webhooks/gitlab", json=OPEN, headers=headers)
    second = client.post("/webhooks/gitlab", json=OPEN, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["status"] == "duplicate"
    assert len(enqueue.jobs) == 1


def test_recursive_hooks_sharing_an_event_uuid_are_told_apart_by_webhook_uuid() -> None:
    enqueue = Recorder()
    client = _client(enqueue)
    for hook in ("hook-a", "hook-b"):
        headers = _headers(**{"X-Gitlab-Event-UUID": "evt-1", "X-Gitlab-Webhook-UUID": hook})
        assert client.post("/webhooks/gitlab", json=OPEN, headers=headers).status_code == 202
    assert len(enqueue.jobs) == 2


def test_a_delivery_that_could_not_be_queued_is_not_remembered() -> None:
    deliveries = MemoryDeliveries()
    headers = _headers(**{"Idempotency-Key": "k2"})
    failed = _client(Recorder(fail=True), deliveries).post("/webhooks/gitlab", json=OPEN, headers=headers)
    assert failed.status_code == 503
    retried = _client(Recorder(), deliveries).post("/webhooks/gitlab", json=OPEN, headers=headers)
    assert retried.status_code == 202


def test_healthz_and_metrics() -> None:
    client = _client(Recorder())
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/webhooks/gitlab", json=OPEN, headers=_headers())
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'reviewer_webhooks_total{outcome="queued"}' in metrics.text


def test_every_real_payload_gets_a_2xx(real_hooks: list[tuple[str, str, bytes]]) -> None:
    enqueue = Recorder()
    client = _client(enqueue)
    for name, event, body in real_hooks:
        response = client.post(
            "/webhooks/gitlab",
            content=body,
            headers={"X-Gitlab-Event": event, "X-Gitlab-Token": SECRET, "Content-Type": "application/json"},
        )
        assert 200 <= response.status_code < 300, (name, response.text)
    assert enqueue.jobs, "the merge request 'open' payloads are queued"
