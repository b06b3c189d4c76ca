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


def _note(body: str, noteable_type: str = "MergeRequest", **attrs: object) -> dict[str, object]:
    return {
        "object_kind": "note",
        "project": {"id": 7},
        "user": {"id": 42},
        "object_attributes": {
            "id": 99,
            "note": body,
            "noteable_type": noteable_type,
            "author_id": 42,
            "action": "create",
            **attrs,
        },
        "merge_request": {"iid": 3, "state": "opened", "last_commit": {"id": "abc"}},
    }


THREAD = "c3d97fd471f210a5dc8b97a409e3bea95ee06c14"


def test_a_command_in_a_note_goes_to_the_conversation_task_with_ids_only() -> None:
    job = classify("Note Hook", _note("thanks!\n/ai-review full\n"))
    assert job == ReviewJob(project_id=7, iid=3, trigger="note", head_sha="abc", requested_by=42, note_id=99)


def test_a_reply_in_a_thread_is_passed_on_with_its_thread_whatever_it_says() -> None:
    job = classify("Note Hook", _note("why?", type="DiffNote", discussion_id=THREAD))
    assert isinstance(job, ReviewJob) and (job.trigger, job.note_id, job.discussion_id) == (
        "note",
        99,
        THREAD,
    )


@pytest.mark.parametrize(
    "attrs",
    [
        {"system": True},  # GitLab's own note, even one that says /ai-review
        {"action": "update"},  # an edit: the command ran when it was written
    ],
)
def test_system_notes_and_edits_are_ignored(attrs: dict[str, object]) -> None:
    payload = _note("/ai-review")
    payload["object_attributes"].update(attrs)  # type: ignore[attr-defined]
    assert isinstance(classify("Note Hook", payload), Ignored)


def test_the_bots_own_notes_are_ignored_by_their_marker() -> None:
    reply = "Understood: resolving.\n\n<!-- ai-review re=98 -->"
    assert isinstance(
        classify("Note Hook", _note(reply, type="DiscussionNote", discussion_id=THREAD)), Ignored
    )
    thumbs_on_a_person = _emoji()
    thumbs_on_a_person["note"]["note"] = "a person's comment"  # type: ignore[index]
    assert isinstance(classify("Emoji Hook", thumbs_on_a_person), Ignored)


def test_a_comment_outside_a_thread_without_the_command_is_ignored() -> None:
    assert isinstance(classify("Note Hook", _note("why?", discussion_id=THREAD)), Ignored)  # type null
    assert isinstance(classify("Note Hook", _note("why?", type="DiffNote", discussion_id="x\n")), Ignored)


def _emoji(
    name: str = "thumbsup", awardable: str = "Note", noteable: str = "MergeRequest"
) -> dict[str, object]:
    return {
        "object_kind": "emoji",
        "project_id": 7,
        "project": {"id": 7},
        "user": {"id": 42},
        "object_attributes": {"user_id": 42, "name": name, "awardable_type": awardable, "awardable_id": 99},
        "note": {
            "id": 99,
            "discussion_id": THREAD,
            "noteable_type": noteable,
            "note": f"x <!-- ai-review fp={'a' * 16} -->",
        },
        "merge_request": {"iid": 3},
    }


def test_thumbs_on_a_comment_are_feedback() -> None:
    job = classify("Emoji Hook", _emoji("thumbsdown"))
    assert job == ReviewJob(7, 3, "reaction", requested_by=42, note_id=99, discussion_id=THREAD)


@pytest.mark.parametrize(
    "payload",
    [_emoji("tada"), _emoji(awardable="MergeRequest"), _emoji(noteable="Issue"), {"object_kind": "emoji"}],
)
def test_other_reactions_are_ignored(payload: dict[str, object]) -> None:
    assert isinstance(classify("Emoji Hook", payload), Ignored)


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
    """Like every command, an override goes to the conversation task by its note's id (the worker
    reads the note, its author and reason from GitLab; reviewer.app.commands dispatches it)."""
    payload = _note("hotfix\n/ai-review override incident 42, reviewed by hand\n")
    payload["object_attributes"]["id"] = 99  # type: ignore[index]
    job = classify("Note Hook", payload)
    assert job == ReviewJob(project_id=7, iid=3, trigger="note", head_sha="abc", requested_by=42, note_id=99)
