"""Follow-up reviews after a push: a rebase that leaves the MR's own changes as they were costs no
model call and posts nothing but the summary's line saying so."""

from __future__ import annotations

from harness import Scene, finding, io_with, open_mr


def test_a_rebase_onto_a_moved_target_makes_no_model_call_and_no_new_note(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l15="result = os.system(command)")})
    scene.says = {"app/io.py": [finding("app/io.py", 15, "Shell command from input")]}
    first = scene.review()
    assert first.status == "reviewed" and first.inline == 1
    reviewed_head, calls = scene.head, scene.model_calls()
    notes = len(scene.gitlab.notes(scene.pid, scene.iid))

    # main moves: a line within the MR hunk's context, and another file
    scene.repo.checkout("main")
    scene.repo.commit({"app/io.py": io_with(l12="value_12 = 'twelve'"), "README.md": "# app\n\nmore\n"})
    scene.repo.checkout("feature")
    scene.repo.run("rebase", "-q", "main")  # the same change, on the new main
    scene.gitlab.push(scene.pid, "feature")
    assert scene.head != reviewed_head

    outcome = scene.review("pushed")
    assert outcome.status == "reviewed" and outcome.inline == 0
    assert scene.model_calls() == calls  # zero model calls
    assert len(scene.gitlab.notes(scene.pid, scene.iid)) == notes  # no new note: the summary is edited
    assert scene.bot_notifications().count("note") + scene.bot_notifications().count("review") <= 2
    summary = scene.summary()
    assert f"`{scene.head[:12]}`" in summary and "no new changes" in summary
    assert scene.ledger.last_reviewed(scene.pid, scene.iid) == scene.head


def test_a_draft_merge_request_waits_until_it_is_marked_ready(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l15="result = os.system(command)")}, draft=True)
    scene.says = {"app/io.py": [finding("app/io.py", 15, "Shell command from input")]}
    skipped = scene.review("opened")
    assert skipped.status == "skipped" and "draft" in skipped.reason
    scene.push({"app/io.py": io_with(l15="result = os.system(command)", l20="value_20 = 'twenty'")})
    assert scene.review("pushed").status == "skipped"
    assert scene.model_calls() == 0 and scene.gitlab.notes(scene.pid, scene.iid) == []
    assert scene.ledger.last_reviewed(scene.pid, scene.iid) is None  # its head is not recorded as reviewed

    scene.gitlab.update_mr(scene.pid, scene.iid, draft=False)
    ready = scene.review("ready")
    assert ready.status == "reviewed" and ready.inline == 1
    assert scene.ledger.last_reviewed(scene.pid, scene.iid) == scene.head


def test_a_team_that_asks_for_it_gets_its_drafts_reviewed(scene: Scene) -> None:
    scene.team(review_drafts=True)
    open_mr(scene, {"app/io.py": io_with(l15="result = os.system(command)")}, draft=True)
    scene.says = {"app/io.py": [finding("app/io.py", 15, "Shell command from input")]}
    assert scene.review("opened").inline == 1


def test_a_review_command_reviews_a_draft(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l15="result = os.system(command)")}, draft=True)
    scene.says = {"app/io.py": [finding("app/io.py", 15, "Shell command from input")]}
    assert scene.review("command", delivery="d1").status == "reviewed"
