"""The bot's approval when the team asks for it (``approve: true``): a clean verdict approves the
reviewed head by its SHA, a later push that brings a blocking finding withdraws it, and a bot
without the right to approve says so once and never asks again."""

from __future__ import annotations

from harness import Scene, finding, io_with, open_mr


def approves(scene: Scene) -> list[object]:
    return [r.body for r in scene.gitlab.requests_to("POST", r"/approve$")]


def test_a_clean_verdict_approves_the_reviewed_head_and_a_blocking_push_withdraws_it(scene: Scene) -> None:
    scene.team(approve=True)
    open_mr(scene, {"app/io.py": io_with(l5="value_5 = compute()")})
    outcome = scene.review()
    assert (outcome.verdict, outcome.approval) == ("looks good", "approved")
    assert scene.gitlab.approvals(scene.pid, scene.iid) == [scene.gitlab.bot.id]
    assert approves(scene) == [{"sha": scene.head}]  # exactly the head that was reviewed
    assert f"Approved at `{scene.head[:12]}`" in scene.summary()

    scene.says = {"app/io.py": [finding("app/io.py", 15, "Shell command from input")]}
    scene.push({"app/io.py": io_with(l5="value_5 = compute()", l15="os.system(command)")})
    outcome = scene.review("pushed")
    assert (outcome.verdict, outcome.approval) == ("changes requested", "unapproved")
    assert scene.gitlab.approvals(scene.pid, scene.iid) == []
    assert "Approval withdrawn: a finding blocks this merge request." in scene.summary()


def test_comments_neither_approve_nor_withdraw(scene: Scene) -> None:
    scene.team(approve=True)
    open_mr(scene, {"app/io.py": io_with(l15="x = 1 if y else  2")})
    scene.says = {"app/io.py": [finding("app/io.py", 15, "Odd spacing", aspect="style")]}
    assert (scene.review().verdict, approves(scene)) == ("comments", [])
    assert scene.gitlab.approvals(scene.pid, scene.iid) == []


def test_without_approve_the_bot_never_approves(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l5="value_5 = compute()")})
    assert scene.review().verdict == "looks good"
    assert approves(scene) == [] and scene.gitlab.requests_to("GET", r"/approvals$") == []


def test_a_bot_without_the_right_to_approve_says_so_once_and_does_not_ask_again(scene: Scene) -> None:
    scene.team(approve=True)
    scene.gitlab.set_access(scene.pid, scene.gitlab.bot.id, 20)  # Reporter: may comment, not approve
    open_mr(scene, {"app/io.py": io_with(l5="value_5 = compute()")})
    outcome = scene.review()
    assert outcome.status == "reviewed" and outcome.approval == "refused"
    assert len(approves(scene)) == 1 and scene.gitlab.approvals(scene.pid, scene.iid) == []
    refusal = "Could not approve: the bot may not approve merge requests here (GitLab answered 403)"
    assert scene.summary().count(refusal) == 1

    scene.push({"app/io.py": io_with(l5="value_5 = compute()", l20="value_20 = 'twenty'")})
    assert scene.review("pushed").approval == "refused"
    assert len(approves(scene)) == 1  # remembered: not asked again
    assert scene.summary().count(refusal) == 1


def test_a_head_that_moved_before_the_approval_is_not_approved(scene: Scene) -> None:
    scene.team(approve=True)
    open_mr(scene, {"app/io.py": io_with(l5="value_5 = compute()")})
    scene.gitlab.fail_next(
        "POST", r"/approve$", 409, body={"message": "SHA does not match HEAD of source branch: 0000"}
    )
    outcome = scene.review()
    assert (outcome.status, outcome.approval) == ("reviewed", "head moved")
    assert scene.gitlab.approvals(scene.pid, scene.iid) == [] and "Approved" not in scene.summary()
