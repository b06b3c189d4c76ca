from __future__ import annotations

import json

import pytest

from reviewer.app.events import Ignored, ReviewJob, classify


def _mr(action: str, **attrs: object) -> dict[str, object]:
    return {
        "object_kind": "merge_request",
        "project": {"id": 7},
        "object_attributes": {
            "iid": 3,
            "action": action,
            "state": "opened",
            "last_commit": {"id": "abc"},
            **attrs,
        },
    }


@pytest.mark.parametrize(
    ("action", "attrs", "trigger"),
    [
        ("open", {}, "opened"),
        ("reopen", {}, "reopened"),
        ("update", {"oldrev": "0f0f"}, "pushed"),
    ],
)
def test_merge_request_actions_that_change_code_are_reviewed(
    action: str, attrs: dict[str, object], trigger: str
) -> None:
    job = classify("Merge Request Hook", _mr(action, **attrs))
    assert job == ReviewJob(project_id=7, iid=3, trigger=trigger, head_sha="abc")


def test_update_without_oldrev_is_ignored_because_no_code_changed() -> None:
    assert isinstance(classify("Merge Request Hook", _mr("update")), Ignored)


def test_draft_to_ready_switch_is_reviewed() -> None:
    payload = _mr("update")
    payload["changes"] = {"draft": {"previous": True, "current": False}}
    job = classify("Merge Request Hook", payload)
    assert isinstance(job, ReviewJob) and job.trigger == "ready"


@pytest.mark.parametrize("action", ["close", "merge", "approved", "unapproved", None])
def test_other_merge_request_actions_are_ignored(action: str | None) -> None:
    assert isinstance(classify("Merge Request Hook", _mr(action or "")), Ignored)


def test_closed_merge_request_is_never_reviewed() -> None:
    assert isinstance(classify("Merge Request Hook", _mr("open", state="closed")), Ignored)


def _note(body: str, noteable_type: str = "MergeRequest") -> dict[str, object]:
    return {
        "object_kind": "note",
        "project": {"id": 7},
        "user": {"id": 42},
        "object_attributes": {"note": body, "noteable_type": noteable_type, "author_id": 42},
        "merge_request": {"iid": 3, "state": "opened", "last_commit": {"id": "abc"}},
    }


def test_review_command_in_a_note_requests_a_review() -> None:
    job = classify("Note Hook", _note("thanks!\n/ai-review\n"))
    assert job == ReviewJob(project_id=7, iid=3, trigger="command", head_sha="abc", requested_by=42)


@pytest.mark.parametrize("body", ["please run `/ai-review`", "/ai-reviewer", "see /ai-review docs", "hello"])
def test_notes_without_the_command_on_its_own_line_are_ignored(body: str) -> None:
    assert isinstance(classify("Note Hook", _note(body)), Ignored)


def test_command_on_an_issue_is_ignored() -> None:
    assert isinstance(classify("Note Hook", _note("/ai-review", noteable_type="Issue")), Ignored)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"object_kind": 5},
        {"object_kind": "merge_request"},
        {"object_kind": "merge_request", "object_attributes": "x"},
        {"object_kind": "note", "object_attributes": {"noteable_type": "MergeRequest", "note": "/ai-review"}},
    ],
)
def test_odd_shapes_are_ignored_not_crashed_on(payload: dict[str, object]) -> None:
    assert isinstance(classify("Merge Request Hook", payload), Ignored)


def test_every_real_payload_of_the_corpus_is_classified(real_hooks: list[tuple[str, str, bytes]]) -> None:
    outcomes = {name: classify(event, json.loads(body)) for name, event, body in real_hooks}
    assert len(outcomes) >= 20
    opened = {name for name, o in outcomes.items() if isinstance(o, ReviewJob)}
    assert {"gitlab4j-api/merge-request-event.json", "xanzy-go-gitlab/merge_request.json"} <= opened
    for name, outcome in outcomes.items():
        if "commit" in name or "issue" in name or "snippet" in name:
            assert isinstance(outcome, Ignored), name


def test_a_label_change_may_be_the_break_glass_label() -> None:
    payload = _mr("update")
    payload["changes"] = {"labels": {"previous": [], "current": [{"title": "ai-review::override"}]}}
    job = classify("Merge Request Hook", payload)
    assert isinstance(job, ReviewJob) and job.trigger == "labeled"


def test_the_override_command_names_its_note_for_the_worker_to_read() -> None:
    payload = _note("hotfix\n/ai-review override incident 42, reviewed by hand\n")
    payload["object_attributes"]["id"] = 99  # type: ignore[index]
    job = classify("Note Hook", payload)
    assert job == ReviewJob(
        project_id=7, iid=3, trigger="override", head_sha="abc", requested_by=42, note_id=99
    )
    plain = _note("/ai-review overrides")  # another word: a review command, not an override
    plain["object_attributes"]["id"] = 100  # type: ignore[index]
    assert classify("Note Hook", plain) == ReviewJob(
        project_id=7, iid=3, trigger="command", head_sha="abc", requested_by=42
    )
