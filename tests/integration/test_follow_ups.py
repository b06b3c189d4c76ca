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
