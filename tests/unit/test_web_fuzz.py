"""10,000 generated deliveries, seeded from the real GitLab payloads of ``../shared/corpus/webhooks``
and mutated: type swaps, deleted keys, deep nesting (inside a payload and as the whole body), lone
surrogates (JSON escapes, and raw in the bytes), invalid UTF-8, truncation, bodies over the size
limit, bodies in several chunks, and missing or odd headers. Every one must be answered 2xx or 4xx,
and a job may be queued only for a delivery that asks for a review or an answer (a command, a note
in a thread, thumbs on a note; checked against rules written here from GitLab's webhook docs, not
by calling the classifier under test).

The ASGI app is called directly (no network), so the run stays within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewer.app.events import ReviewJob
from reviewer.app.web import create_app

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "webhooks"
SECRET = "fuzz-secret"
LIMIT = 64 * 1024
EXAMPLES = 2_500  # per test; four tests
EVENTS = [
    "Merge Request Hook",
    "System Hook",
    "Note Hook",
    "Confidential Note Hook",
    "Emoji Hook",
    "Push Hook",
    "Issue Hook",
]
NEST = "__nest_here__"


def _seeds() -> list[tuple[str, dict[str, Any]]]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not beside the checkout ({CORPUS})")
    seeds = []
    for path in sorted(CORPUS.rglob("*.json")):
        payload = json.loads(path.read_text())
        if "system" in path.name:
            event = "System Hook"
        elif payload.get("object_kind") == "merge_request":
            event = "Merge Request Hook"
        elif payload.get("event_type") == "confidential_note":
            event = "Confidential Note Hook"
        else:
            event = "Note Hook"
        seeds.append((event, payload))
    seeds.append(("Emoji Hook", _emoji_seed()))
    return seeds


# -- what may be queued: GitLab's webhook rules, written independently of reviewer.app.events ----

_COMMAND_LINE = re.compile(r"^[ \t]*/ai-review([ \t].*)?[ \t\r]*$")


def _positive_id(value: Any) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value):
        value = int(value)
    if type(value) is int and 0 < value < 2**63:
        return value
    return None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _thread_id(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{1,64}", value) is not None


def _emoji_seed() -> dict[str, Any]:
    """A thumbs up on a merge request's comment, shaped as GitLab's "Emoji events" example."""
    project = {
        "id": 6,
        "name": "Flight",
        "path_with_namespace": "flightjs/Flight",
        "web_url": "http://example.com/f",
    }
    return {
        "object_kind": "emoji",
        "event_type": "award",
        "user": {"id": 1, "name": "Blake", "username": "root", "email": "[REDACTED]"},
        "project_id": 6,
        "project": project,
        "object_attributes": {
            "user_id": 1,
            "created_at": "2023-07-04 20:44:11 UTC",
            "id": 1,
            "name": "thumbsup",
            "awardable_type": "Note",
            "awardable_id": 363,
            "updated_at": "2023-07-04 20:44:11 UTC",
            "action": "award",
        },
        "note": {
            "id": 363,
            "discussion_id": "c3d97fd471f210a5dc8b97a409e3bea95ee06c14",
            "noteable_type": "MergeRequest",
            "note": "a finding",
            "system": False,
            "type": "DiffNote",
        },
        "merge_request": {"id": 635, "iid": 42, "state": "opened"},
    }


def _may_be_queued(event: str | None, body: bytes, job: ReviewJob) -> str | None:
    """None when ``job`` is a right answer to this delivery, else what is wrong with it."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return "queued a body that is not UTF-8 JSON"
    if not isinstance(payload, dict):
        return "queued a body that is not an object"
    attrs = payload.get("object_attributes")
    attrs = _object(attrs)
    project = _object(payload.get("project"))
    kind = payload.get("object_kind")
    if kind == "merge_request" and event in (None, "Merge Request Hook", "System Hook"):
        if attrs.get("state") in ("closed", "merged", "locked"):
            return "queued a closed merge request"
        action = attrs.get("action")
        changes = _object(payload.get("changes"))
        draft = _object(changes.get("draft"))
        code_changed = action == "update" and bool(attrs.get("oldrev"))
        made_ready = action == "update" and draft.get("current") is False
        relabeled = action == "update" and "labels" in changes  # the break-glass label may have moved
        if not (action in ("open", "reopen") or code_changed or made_ready or relabeled):
            return f"queued merge request action {action!r}"
        projects = {_positive_id(project.get("id")), _positive_id(attrs.get("target_project_id"))}
        iids = {_positive_id(attrs.get("iid"))}
    elif kind == "note" and event in (None, "Note Hook", "Confidential Note Hook"):
        note = attrs.get("note")
        if attrs.get("noteable_type") != "MergeRequest":
            return "queued a comment that is not on a merge request"
        if attrs.get("system") is True or attrs.get("action", "create") != "create":
            return "queued a system note or an edit"
        command = isinstance(note, str) and any(_COMMAND_LINE.match(line) for line in note.split("\n"))
        in_thread = attrs.get("type") in ("DiffNote", "DiscussionNote") and _thread_id(
            attrs.get("discussion_id")
        )
        if not command and not in_thread:
            return "queued a comment without the command, outside a thread"
        mr = _object(payload.get("merge_request"))
        if mr.get("state") in ("closed", "merged", "locked"):
            return "queued a command on a closed merge request"
        if job.note_id is None or job.note_id != _positive_id(attrs.get("id")):
            return "queued a note without its id"
        projects = {_positive_id(project.get("id")), _positive_id(attrs.get("project_id"))}
        iids = {_positive_id(mr.get("iid"))}
    elif kind == "emoji" and event in (None, "Emoji Hook"):
        note = _object(payload.get("note"))
        if attrs.get("awardable_type") != "Note" or note.get("noteable_type") != "MergeRequest":
            return "queued a reaction that is not on a comment of a merge request"
        if attrs.get("name") not in ("thumbsup", "thumbsdown"):
            return f"queued a reaction {attrs.get('name')!r}"
        if job.note_id is None or job.note_id != _positive_id(attrs.get("awardable_id")):
            return "queued a reaction without its note"
        projects = {_positive_id(project.get("id")), _positive_id(payload.get("project_id"))}
        iids = {_positive_id(_object(payload.get("merge_request")).get("iid"))}
    else:
        return f"queued event {event!r} of kind {kind!r}"
    if job.project_id not in projects - {None} or job.iid not in iids - {None}:
        return f"queued ids {job.project_id}/{job.iid} not in the payload"
    return None


# -- mutations ------------------------------------------------------------------------------------

_ODD_TEXT = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(["\ud800", "\udfff", "\udc80", "\x00"])),
    max_size=12,
)
_TRIGGER_VALUES = st.sampled_from(
    [
        "open",
        "reopen",
        "update",
        "MergeRequest",
        "opened",
        "closed",
        "/ai-review",
        "x\n/ai-review full\n",
        0,
        1,
    ]
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _ODD_TEXT
    | _TRIGGER_VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ODD_TEXT, inner, max_size=3),
    max_leaves=6,
)
_FIELDS = [
    ("object_kind",),
    ("object_attributes",),
    ("object_attributes", "action"),
    ("object_attributes", "state"),
    ("object_attributes", "iid"),
    ("object_attributes", "oldrev"),
    ("object_attributes", "note"),
    ("object_attributes", "noteable_type"),
    ("object_attributes", "last_commit", "id"),
    ("object_attributes", "target_project_id"),
    ("object_attributes", "project_id"),
    ("object_attributes", "author_id"),
    ("project",),
    ("project", "id"),
    ("merge_request",),
    ("merge_request", "iid"),
    ("merge_request", "state"),
    ("changes",),
    ("changes", "draft"),
    ("changes", "draft", "current"),
    ("user", "id"),
]


def _set(payload: Any, path: tuple[str, ...], value: Any) -> None:
    node = payload
    for part in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(part, {})
    if isinstance(node, dict):
        node[path[-1]] = value


def _delete(payload: Any, path: tuple[str, ...]) -> None:
    node = payload
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


# Strategies built once: building them inside each draw costs more than the request itself.
_MUTATIONS = st.integers(0, 4)
_PATHS = st.sampled_from(_FIELDS)
_ACTIONS = st.sampled_from(["swap", "trigger", "delete", "nest"])
_DEPTH = st.integers(1, 5000)
_WHOLE_BODY_DEPTH = st.integers(1, 200_000)
_BRACKETS = st.sampled_from([("[", "]"), ('{"a":', "}")])
_BODY_CHANGES = st.sampled_from(
    ["as is"] * 6 + ["truncate", "insert bytes", "whole body nested", "over limit"]
)
_POSITION = st.integers(0, 2**20)
_JUNK = st.binary(min_size=1, max_size=4)
_CLOSING = st.sampled_from([0, 1, 2])  # closed, one short, not closed
_TOKENS = st.sampled_from([SECRET.encode()] * 8 + [b"", b"wrong", None])
_HEADER_TEXT = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c not in (0, 10, 13))  # what an HTTP parser lets through
)
_EVENT_HEADERS = st.one_of(
    st.just("seed"), st.just("seed"), st.sampled_from([e.encode() for e in EVENTS]), _HEADER_TEXT, st.none()
)
_CONTENT_TYPES = st.sampled_from(
    [b"application/json"] * 6 + [b"application/json; charset=utf-8", b"text/plain", None]
)
_KEYS = st.one_of(st.uuids().map(lambda u: str(u).encode()), _HEADER_TEXT, st.none())
_KEY_HEADERS = st.sampled_from([b"idempotency-key", b"x-gitlab-event-uuid"])
_LENGTHS = st.sampled_from(["true", "one more", "one less", "huge", None])


def _payload_bytes(draw: st.DrawFn, seed: dict[str, Any]) -> bytes:
    payload = json.loads(json.dumps(seed))
    nest_depth = 0
    for _ in range(draw(_MUTATIONS)):
        path, action = draw(_PATHS), draw(_ACTIONS)
        if action == "swap":
            _set(payload, path, draw(_JSON))
        elif action == "trigger":
            _set(payload, path, draw(_TRIGGER_VALUES))
        elif action == "delete":
            _delete(payload, path)
        elif not nest_depth:
            nest_depth = draw(_DEPTH)
            _set(payload, path, NEST)
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    if nest_depth:
        opener, closer = draw(_BRACKETS)
        text = text.replace(json.dumps(NEST), opener * nest_depth + "1" + closer * nest_depth, 1)
    body = text.encode("utf-8", "surrogatepass")  # raw lone surrogates: invalid UTF-8
    change = draw(_BODY_CHANGES)
    if change == "truncate":
        body = body[: draw(_POSITION) % max(1, len(body))]
    elif change == "insert bytes":
        at = draw(_POSITION) % (len(body) + 1)
        body = body[:at] + draw(_JUNK) + body[at:]
    elif change == "whole body nested":
        depth = draw(_WHOLE_BODY_DEPTH)
        body = b"[" * depth + b"]" * (depth, depth - 1, 0)[draw(_CLOSING)]
    elif change == "over limit":
        body = body + b" " * (LIMIT + 1 - len(body)) if len(body) <= LIMIT else body
    return body


@st.composite
def deliveries(
    draw: st.DrawFn, seeds: list[tuple[str, dict[str, Any]]]
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    event, seed = draw(st.sampled_from(seeds))
    body = _payload_bytes(draw, seed)
    headers: list[tuple[bytes, bytes]] = []
    token = draw(_TOKENS)
    if token is not None:
        headers.append((b"x-gitlab-token", token))
    event_header = draw(_EVENT_HEADERS)
    if event_header is not None:
        headers.append(
            (b"x-gitlab-event", event_header if isinstance(event_header, bytes) else event.encode())
        )
    content_type = draw(_CONTENT_TYPES)
    if content_type is not None:
        headers.append((b"content-type", content_type))
    key = draw(_KEYS)
    if key is not None:
        headers.append((draw(_KEY_HEADERS), key))
    length = draw(_LENGTHS)
    if length is not None:
        declared = {"true": len(body), "one more": len(body) + 1, "one less": len(body) - 1, "huge": 10**12}
        headers.append((b"content-length", str(max(0, declared[length])).encode()))
    return headers, body


# -- the test --------------------------------------------------------------------------------------


class _Deliveries:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_time(self, key: str) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


async def _post(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes]:
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

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
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)] or [b""]


@pytest.mark.parametrize("part", range(4))
def test_no_generated_delivery_gets_a_5xx_or_queues_what_is_not_a_review(part: int) -> None:
    seeds = _seeds()
    queued: list[tuple[ReviewJob, str]] = []

    def enqueue(job: ReviewJob, key: str) -> str:
        queued.append((job, key))
        return f"task-{len(queued)}"

    # an in-memory enqueue: a long timeout keeps a loaded machine from spooling (tested elsewhere)
    app = create_app((SECRET,), enqueue, _Deliveries(), max_body_bytes=LIMIT, enqueue_timeout=60.0)
    loop = asyncio.new_event_loop()
    answers: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(deliveries(seeds), st.lists(st.integers(min_value=0), max_size=2))
    def check(delivery: tuple[list[tuple[bytes, bytes]], bytes], cuts: list[int]) -> None:
        headers, body = delivery
        before = len(queued)
        status, answer = loop.run_until_complete(_post(app, headers, _split(body, cuts)))
        answers[status] = answers.get(status, 0) + 1
        assert 200 <= status < 500, (status, answer, body[:200])
        assert json.loads(answer)["status"], answer
        new = queued[before:]
        if status == 202:
            assert len(new) == 1, answer
            event = dict(headers).get(b"x-gitlab-event")
            problem = _may_be_queued(event.decode("latin-1") if event is not None else None, body, new[0][0])
            assert problem is None, (problem, body[:300])
        else:
            assert new == [], (status, answer)
        if dict(headers).get(b"x-gitlab-token") != SECRET.encode():
            assert status == 401

    try:
        check()
    finally:
        loop.close()
    assert answers.get(202, 0) > 0 and answers.get(400, 0) > 0 and answers.get(200, 0) > 0, answers
