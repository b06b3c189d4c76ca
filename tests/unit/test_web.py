from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.testclient import TestClient

from reviewer.app import web
from reviewer.app.events import ReviewJob
from reviewer.app.spool import Spool
from reviewer.app.web import create_app, token_matches

SECRET = "s3cret-token"


class MemoryDeliveries:
    def __init__(self, fail: bool = False) -> None:
        self.seen: set[str] = set()
        self.fail = fail

    def first_time(self, key: str) -> bool:
        if self.fail:
            raise ConnectionError("dedupe store down")
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.jobs: list[tuple[ReviewJob, str]] = []
        self.fail = fail
        self.release = threading.Event()
        self.release.set()

    def __call__(self, job: ReviewJob, key: str) -> str:
        self.release.wait()
        if self.fail:
            raise ConnectionError("broker down")
        self.jobs.append((job, key))
        return f"task-{len(self.jobs)}"


def _client(
    enqueue: Recorder,
    deliveries: MemoryDeliveries | None = None,
    secrets: tuple[str, ...] = (SECRET,),
    **options: Any,
) -> TestClient:
    return TestClient(create_app(secrets, enqueue, deliveries or MemoryDeliveries(), **options))


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


OPEN = {
    "object_kind": "merge_request",
    "project": {"id": 9},
    "object_attributes": {"iid": 4, "action": "open", "state": "opened", "last_commit": {"id": "c0ffee"}},
}


def _headers(**extra: str) -> dict[str, str]:
    return {
        "X-Gitlab-Event": "Merge Request Hook",
        "X-Gitlab-Token": SECRET,
        "Content-Type": "application/json",
        **extra,
    }


def test_open_event_is_queued_with_202() -> None:
    enqueue = Recorder()
    response = _client(enqueue).post(
        "/webhooks/gitlab", json=OPEN, headers=_headers(**{"Idempotency-Key": "k1"})
    )
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["task_id"] == "task-1"
    assert enqueue.jobs == [(ReviewJob(9, 4, "opened", "c0ffee"), "idem:k1")]


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET + "x", "s3cret-tökén"])
def test_wrong_or_missing_token_is_refused_and_nothing_is_queued(token: str | None) -> None:
    enqueue = Recorder()
    headers: dict[str, Any] = _headers()
    if token is None:
        del headers["X-Gitlab-Token"]
    else:
        headers["X-Gitlab-Token"] = token.encode("latin-1")
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


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"object_kind": "note\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded as UTF-8
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
        (b'{"iid": ' + b"9" * 5000 + b"}", "not JSON"),  # over Python's int digit limit
        (b"", "not JSON"),
    ],
)
def test_malformed_body_gets_a_clear_400(body: bytes, reason: str) -> None:
    enqueue = Recorder()
    response = _client(enqueue).post("/webhooks/gitlab", content=body, headers=_headers())
    assert response.status_code == 400
    assert response.json()["status"] == "rejected" and reason in response.json()["reason"]
    assert enqueue.jobs == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
def test_a_body_that_is_not_declared_json_gets_415(content_type: str | None) -> None:
    enqueue = Recorder()
    headers = _headers()
    del headers["Content-Type"]
    if content_type:
        headers["Content-Type"] = content_type
    response = _client(enqueue).post("/webhooks/gitlab", content=json.dumps(OPEN), headers=headers)
    assert response.status_code == 415
    assert enqueue.jobs == []


def test_json_content_type_with_parameters_is_accepted() -> None:
    enqueue = Recorder()
    headers = _headers(**{"Content-Type": "Application/JSON; charset=utf-8"})
    response = _client(enqueue).post("/webhooks/gitlab", content=json.dumps(OPEN), headers=headers)
    assert response.status_code == 202


@pytest.mark.parametrize(
    "payload",
    [
        {"object_kind": "\ud800", "object_attributes": "\udfff"},
        {
            **OPEN,
            "object_attributes": {**cast(dict[str, Any], OPEN["object_attributes"]), "action": "\ud800"},
        },
        {"object_kind": "note", "object_attributes": {"noteable_type": "\ud800x", "note": "/ai-review"}},
    ],
)
def test_lone_surrogates_are_answered_with_an_escaped_reason(payload: dict[str, Any]) -> None:
    enqueue = Recorder()
    body = json.dumps(payload).encode()  # JSON escapes: "\ud800" is valid JSON text
    response = _client(enqueue).post("/webhooks/gitlab", content=body, headers=_headers())
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert response.content.isascii()
    assert enqueue.jobs == []


def test_deeply_nested_values_inside_a_delivery_are_ignored_not_crashed_on() -> None:
    nested = "[" * 900 + "]" * 900
    attributes = '{"noteable_type": ' + nested + ', "note": ' + nested + "}"
    body = '{"object_kind": "note", "object_attributes": ' + attributes + "}"
    enqueue = Recorder()
    headers = _headers(**{"X-Gitlab-Event": "Note Hook"})
    response = _client(enqueue).post("/webhooks/gitlab", content=body.encode(), headers=headers)
    assert response.status_code == 200
    assert response.json()["reason"] == "comment on a list is not a review request"


async def _call(app: Any, headers: list[tuple[bytes, bytes]], chunks: Any) -> tuple[int, bytes, int]:
    """Drive the ASGI app directly with a body that arrives in ``chunks``; returns the status,
    the response body and how many body bytes the app pulled."""
    pulled = 0
    sent: list[dict[str, Any]] = []
    iterator = iter(chunks)

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(iterator, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/gitlab",
        "raw_path": b"/webhooks/gitlab",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, pulled


BASE_HEADERS = [
    (b"x-gitlab-token", SECRET.encode()),
    (b"x-gitlab-event", b"Merge Request Hook"),
    (b"content-type", b"application/json"),
]


def test_a_body_over_the_limit_is_413_and_read_no_further_than_the_limit() -> None:
    app = create_app((SECRET,), Recorder(), MemoryDeliveries(), max_body_bytes=1000)
    endless = iter(lambda: b"x" * 100, None)  # a client that never stops sending
    status, body, pulled = asyncio.run(_call(app, BASE_HEADERS, endless))
    assert status == 413 and b"1000" in body
    assert pulled <= 1100


def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    app = create_app((SECRET,), Recorder(), MemoryDeliveries(), max_body_bytes=1000)
    headers = [*BASE_HEADERS, (b"content-length", b"5000")]
    status, _, pulled = asyncio.run(_call(app, headers, iter(lambda: b"x" * 100, None)))
    assert (status, pulled) == (413, 0)


def test_a_body_at_the_limit_is_read() -> None:
    body = json.dumps(OPEN).encode()
    enqueue = Recorder()
    app = create_app((SECRET,), enqueue, MemoryDeliveries(), max_body_bytes=len(body))
    status, _, _ = asyncio.run(_call(app, BASE_HEADERS, [body[:10], body[10:]]))
    assert status == 202 and len(enqueue.jobs) == 1


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


def test_an_overlong_idempotency_key_is_hashed() -> None:
    enqueue = Recorder()
    _client(enqueue).post("/webhooks/gitlab", json=OPEN, headers=_headers(**{"Idempotency-Key": "k" * 5000}))
    [(_, key)] = enqueue.jobs
    assert key.startswith("hash:") and len(key) < 100


def _spool_files(directory: Path) -> list[Path]:
    return sorted((directory / "ready").glob("*.json"))


def test_broker_down_spools_answers_202_and_queues_when_the_broker_is_back(tmp_path: Path) -> None:
    enqueue, deliveries = Recorder(fail=True), MemoryDeliveries()
    with _client(enqueue, deliveries, spool=Spool(tmp_path)) as client:
        response = client.post("/webhooks/gitlab", json=OPEN, headers=_headers(**{"Idempotency-Key": "k2"}))
        assert response.status_code == 202
        assert response.json() == {"status": "spooled", "project_id": 9, "iid": 4, "trigger": "opened"}
        assert client.get("/healthz").json()["queue"] == "unavailable"
        # A redelivery meanwhile is a duplicate: the spool will queue the first copy.
        again = client.post("/webhooks/gitlab", json=OPEN, headers=_headers(**{"Idempotency-Key": "k2"}))
        assert again.json()["status"] == "duplicate"
        enqueue.fail = False
        _wait_for(lambda: enqueue.jobs != [], "the drainer to queue the spooled job")
        assert enqueue.jobs == [(ReviewJob(9, 4, "opened", "c0ffee"), "idem:k2")]
        _wait_for(lambda: not _spool_files(tmp_path), "the spool entry to be removed")
        _wait_for(lambda: client.get("/healthz").json()["queue"] == "ok", "the queue to be reported up")


def test_dedupe_store_down_spools_and_the_drainer_records_the_key(tmp_path: Path) -> None:
    enqueue, deliveries = Recorder(), MemoryDeliveries(fail=True)
    with _client(enqueue, deliveries, spool=Spool(tmp_path)) as client:
        headers = _headers(**{"Idempotency-Key": "k3"})
        assert client.post("/webhooks/gitlab", json=OPEN, headers=headers).json()["status"] == "spooled"
        assert enqueue.jobs == []
        deliveries.fail = False
        _wait_for(lambda: len(enqueue.jobs) == 1, "the drainer to queue the spooled job")
        assert deliveries.seen == {"idem:k3"}
        # Back to normal: a later redelivery is a duplicate.
        assert client.post("/webhooks/gitlab", json=OPEN, headers=headers).json()["status"] == "duplicate"
    assert len(enqueue.jobs) == 1


def test_a_broker_that_does_not_answer_in_time_is_treated_as_down(tmp_path: Path) -> None:
    enqueue = Recorder()
    enqueue.release.clear()  # every enqueue hangs until released
    with _client(enqueue, spool=Spool(tmp_path), enqueue_timeout=0.2) as client:
        first = client.post("/webhooks/gitlab", json=OPEN, headers=_headers(**{"Idempotency-Key": "a"}))
        second = client.post("/webhooks/gitlab", json=OPEN, headers=_headers(**{"Idempotency-Key": "b"}))
        assert (first.json()["status"], second.json()["status"]) == ("spooled", "spooled")
        assert len(_spool_files(tmp_path)) == 2
        enqueue.release.set()
        _wait_for(lambda: not _spool_files(tmp_path), "the spool to drain")
    assert {key for _, key in enqueue.jobs} >= {"idem:a", "idem:b"}


def test_the_spool_survives_a_restart_of_the_intake(tmp_path: Path) -> None:
    down = Recorder(fail=True)
    first = create_app((SECRET,), down, MemoryDeliveries(), spool=Spool(tmp_path), drain_interval=3600)
    headers = _headers(**{"Idempotency-Key": "r"})
    response = TestClient(first).post("/webhooks/gitlab", json=OPEN, headers=headers)
    assert response.json()["status"] == "spooled"
    first.state.drainer.stop()  # the first intake stops before the broker is back
    assert len(_spool_files(tmp_path)) == 1 and down.jobs == []

    up = Recorder()
    with _client(up, spool=Spool(tmp_path)):
        _wait_for(lambda: up.jobs != [], "the new intake to drain the spool at start")
    assert up.jobs == [(ReviewJob(9, 4, "opened", "c0ffee"), "idem:r")]
    assert _spool_files(tmp_path) == []


def test_without_a_spool_a_delivery_is_held_in_memory_and_queued_later() -> None:
    enqueue = Recorder(fail=True)
    with _client(enqueue) as client:
        assert client.post("/webhooks/gitlab", json=OPEN, headers=_headers()).json()["status"] == "spooled"
        assert client.get("/healthz").json()["spooled"] == 1
        enqueue.fail = False
        _wait_for(lambda: enqueue.jobs != [], "the held job to be queued")


def test_an_unwritable_spool_holds_the_delivery_in_memory(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    (tmp_path / "tmp").rmdir()  # every write now fails
    enqueue = Recorder(fail=True)
    with _client(enqueue, spool=spool) as client:
        assert client.post("/webhooks/gitlab", json=OPEN, headers=_headers()).status_code == 202
        enqueue.fail = False
        _wait_for(lambda: enqueue.jobs != [], "the held job to be queued")


def test_an_internal_error_after_classification_spools_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: Any, body: bytes) -> str:
        raise KeyError("a bug")

    monkeypatch.setattr(web, "delivery_key", broken)
    enqueue = Recorder()
    with _client(enqueue, spool=Spool(tmp_path)) as client:
        response = client.post("/webhooks/gitlab", json=OPEN, headers=_headers())
        assert (response.status_code, response.json()["status"]) == (202, "spooled")
        _wait_for(lambda: enqueue.jobs != [], "the drainer to queue the job")
    assert enqueue.jobs[0][1].startswith("body:")


def test_an_internal_error_before_classification_is_a_400_not_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(event: Any, payload: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(web, "classify", broken)
    response = _client(Recorder()).post("/webhooks/gitlab", json=OPEN, headers=_headers())
    assert response.status_code == 400 and "could not read" in response.json()["reason"]


def test_healthz_and_metrics(tmp_path: Path) -> None:
    client = _client(Recorder(), spool=Spool(tmp_path))
    assert client.get("/healthz").json() == {"status": "ok", "queue": "ok", "spooled": 0}
    client.post("/webhooks/gitlab", json=OPEN, headers=_headers())
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'reviewer_webhooks_total{outcome="queued"}' in metrics.text
    assert "reviewer_spooled_deliveries 0.0" in metrics.text


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
