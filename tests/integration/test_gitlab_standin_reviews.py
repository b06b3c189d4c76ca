"""The stand-in's review APIs (``fakes.gitlab_reviews``), driven by python-gitlab over HTTP: draft
notes, bulk publishing and the notifications GitLab sends, approvals with their SHA check,
members, reviewers and label events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
from fakes.gitlab_reviews import DEVELOPER, MAINTAINER
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

BASE = "".join(f"line {n}\n" for n in range(1, 11))
CHANGED = BASE.replace("line 5\n", "line five\n")


@pytest.fixture
def standin() -> Iterator[GitLabStandIn]:
    with GitLabStandIn() as server:
        yield server


@pytest.fixture
def mr(standin: GitLabStandIn, tmp_path: Path) -> tuple[int, int]:
    repo = GitRepo.create(tmp_path / "app", files={"app.py": BASE})
    repo.commit({"app.py": CHANGED}, branch="feature", message="five")
    pid = standin.add_project("group/app", repo)
    return pid, standin.open_mr(pid, "feature")


def client(standin: GitLabStandIn, token: str | None = None) -> gitlab.Gitlab:
    return gitlab.Gitlab(standin.url, private_token=token or standin.token)


def handle(gl: gitlab.Gitlab, pid: int, iid: int) -> Any:
    return gl.projects.get(pid, lazy=True).mergerequests.get(iid, lazy=True)


def on_line_five(standin: GitLabStandIn, pid: int, iid: int, new_line: int = 5) -> dict[str, Any]:
    refs = standin.mr(pid, iid)["diff_refs"]
    return {"position_type": "text", **refs, "old_path": "app.py", "new_path": "app.py", "new_line": new_line}


def test_drafts_are_seen_by_their_author_only_and_one_review_is_one_notification(
    standin: GitLabStandIn, mr: tuple[int, int]
) -> None:
    pid, iid = mr
    bot = handle(client(standin), pid, iid)
    bot.draft_notes.create({"note": "first", "position": on_line_five(standin, pid, iid)})
    bot.draft_notes.create({"note": "second"})
    other = standin.add_user("other", token="other-token")
    assert handle(client(standin, "other-token"), pid, iid).draft_notes.list() == []
    assert [d.note for d in bot.draft_notes.list()] == ["first", "second"]
    assert standin.discussions(pid, iid) == [] and standin.notifications(pid, iid) == []

    bot.draft_notes.bulk_publish()
    assert bot.draft_notes.list() == []
    kinds = [(d["notes"][0]["type"], d["notes"][0]["body"]) for d in standin.discussions(pid, iid)]
    assert kinds == [("DiffNote", "first"), ("DiscussionNote", "second")]
    assert [n["kind"] for n in standin.notifications(pid, iid)] == ["review"]

    bot.draft_notes.bulk_publish()  # nothing left: nothing published, nobody notified
    assert len(standin.notifications(pid, iid)) == 1
    bot.notes.create({"body": "outside a review"})
    assert [n["kind"] for n in standin.notifications(pid, iid)] == ["review", "note"]
    assert other["id"] not in [n["author_id"] for n in standin.notifications(pid, iid)]


def test_a_reply_draft_resolves_its_thread_only_when_asked_and_one_per_thread(
    standin: GitLabStandIn, mr: tuple[int, int]
) -> None:
    pid, iid = mr
    bot = handle(client(standin), pid, iid)
    thread = bot.discussions.create({"body": "thread", "position": on_line_five(standin, pid, iid)})
    bot.draft_notes.create(
        {"note": "fixed", "in_reply_to_discussion_id": thread.id, "resolve_discussion": True}
    )
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        bot.draft_notes.create({"note": "again", "in_reply_to_discussion_id": thread.id})
    assert caught.value.response_code == 400
    with pytest.raises(gitlab.GitlabCreateError):
        bot.draft_notes.create({"note": "x", "in_reply_to_discussion_id": "f" * 40})
    bot.draft_notes.bulk_publish()
    (published,) = standin.discussions(pid, iid)
    assert [n["body"] for n in published["notes"]] == ["thread", "fixed"]
    assert published["notes"][0]["resolved"] is True


def test_an_update_without_a_position_clears_it_and_a_bad_position_vanishes_on_publishing(
    standin: GitLabStandIn, mr: tuple[int, int]
) -> None:
    pid, iid = mr
    gl = client(standin)
    bot = handle(gl, pid, iid)
    kept = bot.draft_notes.create({"note": "kept", "position": on_line_five(standin, pid, iid)})
    path = f"/projects/{pid}/merge_requests/{iid}/draft_notes/{kept.id}"
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        gl.http_put(path, post_data={"position": on_line_five(standin, pid, iid)})
    assert caught.value.response_code == 400  # note is required
    gl.http_put(path, post_data={"note": "kept, edited"})
    assert bot.draft_notes.get(kept.id).position["new_line"] is None  # gitlab-org/gitlab#631434
    gl.http_put(path, post_data={"note": "kept", "position": on_line_five(standin, pid, iid)})
    bot.draft_notes.create({"note": "off the diff", "position": on_line_five(standin, pid, iid, new_line=99)})

    bot.draft_notes.bulk_publish()
    assert [d["notes"][0]["body"] for d in standin.discussions(pid, iid)] == ["kept"]
    assert [d["reason"] for d in standin.dropped_drafts] and bot.draft_notes.list() == []


def test_review_options_of_gitlab_19_2_and_older_versions_that_ignore_them(
    standin: GitLabStandIn, mr: tuple[int, int]
) -> None:
    pid, iid = mr
    bot = handle(client(standin), pid, iid)
    standin.add_reviewer(pid, iid, standin.bot.id)
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        bot.draft_notes.bulk_publish(post_data={"reviewer_state": "approved"})
    assert caught.value.response_code == 400
    bot.draft_notes.create({"note": "a finding"})
    bot.draft_notes.bulk_publish(post_data={"reviewer_state": "requested_changes", "note": "summary"})
    assert standin.reviewer_states(pid, iid) == {standin.bot.id: "requested_changes"}
    bodies = [(n["type"], n["body"]) for n in standin.notes(pid, iid)]
    assert bodies == [("DiscussionNote", "a finding"), (None, "summary")]
    assert len(standin.notifications(pid, iid)) == 1

    standin.review_options = False
    bot.draft_notes.bulk_publish(post_data={"reviewer_state": "reviewed", "note": "ignored"})
    assert standin.reviewer_states(pid, iid) == {standin.bot.id: "requested_changes"}
    assert len(standin.notes(pid, iid)) == 2 and len(standin.notifications(pid, iid)) == 1
    reviewers = client(standin).http_list(f"/projects/{pid}/merge_requests/{iid}/reviewers", get_all=True)
    assert [r["user"]["id"] for r in reviewers] == [standin.bot.id]


def test_without_the_draft_notes_api_every_draft_route_is_404(
    standin: GitLabStandIn, mr: tuple[int, int]
) -> None:
    pid, iid = mr
    standin.draft_notes_api = False
    bot = handle(client(standin), pid, iid)
    for call in (
        bot.draft_notes.list,
        lambda: bot.draft_notes.create({"note": "x"}),
        bot.draft_notes.bulk_publish,
    ):
        with pytest.raises(gitlab.GitlabError) as caught:
            call()
        assert caught.value.response_code == 404


def test_approvals_check_the_sha_the_role_and_who_approved(
    standin: GitLabStandIn, mr: tuple[int, int]
) -> None:
    pid, iid = mr
    bot = handle(client(standin), pid, iid)
    with pytest.raises(gitlab.GitlabMRApprovalError) as caught:
        bot.approve(sha="0" * 40)
    assert caught.value.response_code == 409 and "does not match HEAD" in str(caught.value.error_message)
    head = standin.mr(pid, iid)["sha"]
    bot.approve(sha=head)
    assert standin.approvals(pid, iid) == [standin.bot.id]
    assert bot.approvals.get().user_has_approved is True
    with pytest.raises(gitlab.GitlabAuthenticationError) as again:
        bot.approve(sha=head)
    assert again.value.response_code == 401
    bot.unapprove()
    with pytest.raises(gitlab.GitlabMRApprovalError) as not_approved:
        bot.unapprove()
    assert not_approved.value.response_code == 404
    assert [n["kind"] for n in standin.notifications(pid, iid)] == ["approval"]

    standin.set_access(pid, standin.bot.id, 20)  # Reporter: may comment, may not approve
    with pytest.raises(gitlab.GitlabMRApprovalError) as forbidden:
        bot.approve(sha=head)
    assert forbidden.value.response_code == 403


def test_members_and_label_events(standin: GitLabStandIn, mr: tuple[int, int]) -> None:
    pid, iid = mr
    gl = client(standin)
    alice = standin.add_user("alice")
    standin.set_access(pid, alice["id"], MAINTAINER)
    project = gl.projects.get(pid, lazy=True)
    assert project.members_all.get(alice["id"]).access_level == MAINTAINER
    assert project.members_all.get(standin.bot.id).access_level == DEVELOPER
    stranger = standin.add_user("stranger")
    with pytest.raises(gitlab.GitlabGetError) as caught:
        project.members_all.get(stranger["id"])
    assert caught.value.response_code == 404

    standin.set_labels(pid, iid, ["ai-review::override", "bug"], by=alice["id"])
    standin.set_labels(pid, iid, ["bug"], by=stranger["id"])
    mr_obj = project.mergerequests.get(iid)
    assert mr_obj.labels == ["bug"]
    events = [(e.action, e.label["name"], e.user["username"]) for e in mr_obj.resourcelabelevents.list()]
    assert events == [
        ("add", "ai-review::override", "alice"),
        ("add", "bug", "alice"),
        ("remove", "ai-review::override", "stranger"),
    ]
