"""A review is published as one batch: draft notes and one bulk publish, so the MR's people get
one notification however many findings it has; the thread-by-thread fallback where GitLab has no
Draft Notes API; and a crash or a lost answer between drafting and publishing, which publish one
set of threads, never two."""

from __future__ import annotations

import logging
import re
from collections import Counter

import pytest
from gitlab import Gitlab
from harness import Scene, finding, io_with, open_mr

from reviewer.errors import TransientError

MARKER = re.compile(r"<!-- ai-review fp=([0-9a-f]+)")
CHANGES = {"app/io.py": io_with(l5="eval(user_input)", l15="os.system(command)", l25="pickle.loads(blob)")}
SAYS = {
    "app/io.py": [
        finding("app/io.py", 5, "eval on user input"),
        finding("app/io.py", 15, "Shell command from input"),
        finding("app/io.py", 25, "Unpickling untrusted data", severity="medium"),
    ]
}


def fingerprints(scene: Scene) -> Counter[str]:
    return Counter(fp for d in scene.bot_threads() for n in d["notes"] for fp in MARKER.findall(n["body"]))


def test_a_review_with_several_findings_is_one_notification(scene: Scene) -> None:
    open_mr(scene, CHANGES)
    scene.says = {path: list(found) for path, found in SAYS.items()}
    outcome = scene.review()
    assert outcome.status == "reviewed" and outcome.inline == 3
    assert len(scene.bot_threads()) == 3 and scene.gitlab.drafts(scene.pid, scene.iid) == []
    assert scene.bot_notifications() == ["review"]  # three threads and the summary: one e-mail
    assert "Verdict: changes requested" in scene.verdict_line()

    scene.says["app/io.py"].append(finding("app/io.py", 27, "Unchecked return", aspect="style"))
    scene.push(
        {
            "app/io.py": io_with(
                l5="eval(user_input)", l15="os.system(command)", l25="pickle.loads(blob)", l27="check()"
            )
        }
    )
    assert scene.review("pushed").inline == 1
    assert scene.bot_notifications() == ["review", "review"]  # the summary was edited: no e-mail


def test_a_review_with_no_draft_notes_api_goes_thread_by_thread_and_remembers_it(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    scene.gitlab.draft_notes_api = False  # an older GitLab
    open_mr(scene, CHANGES)
    scene.says = {path: list(found) for path, found in SAYS.items()}
    with caplog.at_level(logging.WARNING, logger="reviewer.gitlab.submit"):
        outcome = scene.review()
    assert outcome.status == "reviewed" and outcome.inline == 3 and len(scene.bot_threads()) == 3
    assert [r.getMessage() for r in caplog.records if "no draft notes" in r.getMessage()]
    assert scene.ledger.publish_state(scene.pid, scene.iid).drafts_unavailable
    assert Counter(scene.bot_notifications()) == {"note": 4}  # each thread, and the summary

    asked = len(scene.gitlab.requests_to("GET", r"/draft_notes$"))
    scene.says["app/io.py"].append(finding("app/io.py", 27, "Unchecked return", aspect="style"))
    scene.push(
        {
            "app/io.py": io_with(
                l5="eval(user_input)", l15="os.system(command)", l25="pickle.loads(blob)", l27="check()"
            )
        }
    )
    assert scene.review("pushed").inline == 1
    assert len(scene.gitlab.requests_to("GET", r"/draft_notes$")) == asked == 1  # not tried again


def test_a_crash_between_drafting_and_publishing_publishes_one_set(scene: Scene) -> None:
    open_mr(scene, CHANGES)
    scene.says = {path: list(found) for path, found in SAYS.items()}
    scene.gitlab.inject("POST", r"/bulk_publish$", "refused", status=502)  # the worker dies here
    with pytest.raises(TransientError):
        scene.review()
    assert len(scene.gitlab.drafts(scene.pid, scene.iid)) == 3 and scene.bot_threads() == []
    assert scene.bot_notifications() == [] and scene.ledger.last_reviewed(scene.pid, scene.iid) is None
    calls = scene.model_calls()

    outcome = scene.review()  # the task's retry
    assert outcome.status == "reviewed" and scene.model_calls() == calls
    assert len(scene.gitlab.requests_to("POST", r"/draft_notes$")) == 3  # the same drafts, published
    assert set(fingerprints(scene).values()) == {1} and len(fingerprints(scene)) == 3
    assert scene.gitlab.drafts(scene.pid, scene.iid) == [] and scene.bot_notifications() == ["review"]


def test_a_lost_answer_on_publishing_is_read_back(scene: Scene) -> None:
    open_mr(scene, CHANGES)
    scene.says = {path: list(found) for path, found in SAYS.items()}
    scene.gitlab.inject("POST", r"/bulk_publish$", "lost_answer", status=500)
    outcome = scene.review()
    assert outcome.status == "reviewed" and outcome.inline == 3
    assert len(scene.gitlab.requests_to("POST", r"/bulk_publish$")) == 1  # not sent twice
    assert len(scene.bot_threads()) == 3 and scene.gitlab.drafts(scene.pid, scene.iid) == []
    assert len([n for n in scene.gitlab.notes(scene.pid, scene.iid) if "ai-review summary" in n["body"]]) == 1


def test_a_draft_whose_position_was_cleared_is_rewritten_with_it(scene: Scene) -> None:
    open_mr(scene, CHANGES)
    scene.says = {path: list(found) for path, found in SAYS.items()}
    scene.gitlab.inject("POST", r"/bulk_publish$", "refused", status=502)
    with pytest.raises(TransientError):
        scene.review()
    gl_draft = scene.gitlab.drafts(scene.pid, scene.iid)[0]
    # an update without the position clears it, as GitLab does (gitlab-org/gitlab#631434)
    Gitlab(scene.gitlab.url, private_token=scene.gitlab.token).http_put(
        f"/projects/{scene.pid}/merge_requests/{scene.iid}/draft_notes/{gl_draft['id']}",
        post_data={"note": gl_draft["note"]},
    )
    assert scene.gitlab.drafts(scene.pid, scene.iid)[0]["position"]["new_line"] is None

    assert scene.review().status == "reviewed"
    puts = scene.gitlab.requests_to("PUT", r"/draft_notes/\d+$")
    assert puts[-1].body["position"]["new_line"] == gl_draft["position"]["new_line"]  # note and position
    lines = sorted(d["notes"][0]["position"]["new_line"] for d in scene.bot_threads())
    assert lines == [5, 15, 25] and scene.bot_notifications() == ["review"]


def test_a_stale_draft_of_the_bot_is_deleted_not_published(scene: Scene) -> None:
    open_mr(scene, CHANGES)
    scene.says = {path: list(found) for path, found in SAYS.items()}
    bot = Gitlab(scene.gitlab.url, private_token=scene.gitlab.token)
    mr = bot.projects.get(scene.pid, lazy=True).mergerequests.get(scene.iid, lazy=True)
    mr.draft_notes.create({"note": "stale <!-- ai-review fp=00000000000000ff -->"})
    assert scene.review().status == "reviewed"
    bodies = [n["body"] for n in scene.gitlab.notes(scene.pid, scene.iid)]
    assert not any("00000000000000ff" in b for b in bodies)
    assert len(scene.bot_threads()) == 3 and scene.gitlab.drafts(scene.pid, scene.iid) == []
    assert scene.gitlab.requests_to("DELETE", r"/draft_notes/\d+$")


def test_before_gitlab_19_2_the_first_summary_is_a_note_of_its_own(scene: Scene) -> None:
    scene.gitlab.review_options = False  # bulk_publish ignores note and reviewer_state
    open_mr(scene, CHANGES)
    scene.gitlab.add_reviewer(scene.pid, scene.iid, scene.gitlab.bot.id)
    scene.says = {path: list(found) for path, found in SAYS.items()}
    assert scene.review().inline == 3
    assert scene.bot_notifications() == ["review", "note"]  # the threads, then the summary
    assert "Verdict: changes requested" in scene.verdict_line()
    # GitLab marks a reviewer who publishes a review "reviewed"; "changes requested" needs 19.2
    assert scene.gitlab.reviewer_states(scene.pid, scene.iid) == {scene.gitlab.bot.id: "reviewed"}


def test_replies_and_resolutions_are_drafts_of_the_same_review(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)", l15="os.system(command)")})
    scene.says = {
        "app/io.py": [
            finding("app/io.py", 5, "eval on user input"),
            finding("app/io.py", 15, "Shell command"),
        ]
    }
    scene.review()
    scene.says["app/io.py"].append(finding("app/io.py", 5, "Unvalidated input", aspect="style"))
    # the stored answers of this head expired (7 days): asked again, the model says more
    scene.ledger._redis.delete(f"reviewer:answers:{scene.pid}:{scene.iid}:{scene.head}")
    assert scene.review("command", delivery="again").inline == 1  # joins the thread of line 5
    (line_5,) = [d for d in scene.bot_threads() if d["notes"][0]["position"]["new_line"] == 5]
    assert len(line_5["notes"]) == 2 and "Unvalidated input" in line_5["notes"][1]["body"]
    assert scene.bot_notifications() == ["review", "review"]

    scene.says = {}
    scene.push({"app/io.py": io_with(l5="eval(user_input)", l15="subprocess.run(command)")})
    scene.review("pushed")
    (line_15,) = [d for d in scene.bot_threads() if d["notes"][0]["position"]["new_line"] == 15]
    assert line_15["notes"][0]["resolved"] is True and "has changed" in line_15["notes"][-1]["body"]
    assert scene.bot_notifications() == ["review", "review", "review"]  # the resolution too
    assert scene.gitlab.requests_to("PUT", r"/discussions/[0-9a-f]+$") == []  # resolved by the publish
