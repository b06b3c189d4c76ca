"""Break glass: the team's label or ``/ai-review override <reason>`` from a Maintainer turns a
blocking verdict into a recorded override (who and why in the summary, counted once in the
metric); a Developer is refused, and the summary says so."""

from __future__ import annotations

from typing import Any

import pytest
from fakes.gitlab_reviews import DEVELOPER, MAINTAINER
from harness import TEAM, Scene, finding, io_with, open_mr

from reviewer.app import metrics
from reviewer.app.review_metrics import PrometheusObserver
from reviewer.gitlab.overrides import override_reason
from reviewer.review.verdict import Override

TEAM_REF = f"group:default/{TEAM}"


def counted() -> float:
    return metrics.REGISTRY.get_sample_value("reviewer_overrides_total", {"team": TEAM_REF}) or 0.0


@pytest.fixture
def blocked(scene: Scene) -> Scene:
    """An MR whose verdict requests changes (a critical finding), the bot among its reviewers."""
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)")})
    scene.gitlab.add_reviewer(scene.pid, scene.iid, scene.gitlab.bot.id)
    scene.says = {"app/io.py": [finding("app/io.py", 5, "eval on user input", severity="critical")]}
    assert scene.review().verdict == "changes requested"
    return scene


def person(scene: Scene, name: str, level: int) -> int:
    user: dict[str, Any] = scene.gitlab.add_user(name)
    scene.gitlab.set_access(scene.pid, user["id"], level)
    return int(user["id"])


def test_the_override_label_from_a_maintainer_is_recorded_and_counted_once(blocked: Scene) -> None:
    scene, before = blocked, counted()
    alice = person(scene, "alice", MAINTAINER)
    scene.gitlab.set_labels(scene.pid, scene.iid, ["ai-review::override"], by=alice)
    outcome = scene.review("labeled", observer=PrometheusObserver())
    assert (outcome.verdict, outcome.overridden) == ("changes requested", True)
    assert scene.verdict_line().startswith(
        "⛔ **Verdict: changes requested, overridden** by `alice` with the label `ai-review::override`."
    )
    assert scene.gitlab.reviewer_states(scene.pid, scene.iid) == {scene.gitlab.bot.id: "reviewed"}
    assert counted() == before + 1

    scene.review("command", observer=PrometheusObserver())  # reviewed again: counted once per MR
    assert counted() == before + 1
    assert scene.review("labeled").reason == "the labels change nothing of the verdict"


def test_the_override_label_from_a_developer_is_refused(blocked: Scene) -> None:
    scene, before = blocked, counted()
    bob = person(scene, "bob", DEVELOPER)
    scene.gitlab.set_labels(scene.pid, scene.iid, ["ai-review::override"], by=bob)
    outcome = scene.review("labeled", observer=PrometheusObserver())
    assert (outcome.verdict, outcome.overridden) == ("changes requested", False)
    assert (
        "Override by `bob` not applied: only Maintainers may override; bob is a Developer." in scene.summary()
    )
    assert scene.gitlab.reviewer_states(scene.pid, scene.iid) == {scene.gitlab.bot.id: "requested_changes"}
    assert counted() == before


def test_a_teams_own_label_is_the_one_that_counts(scene: Scene) -> None:
    scene.team(override_label="hotfix")
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)")})
    scene.says = {"app/io.py": [finding("app/io.py", 5, "eval on user input", severity="critical")]}
    alice = person(scene, "alice", MAINTAINER)
    scene.gitlab.set_labels(scene.pid, scene.iid, ["ai-review::override"], by=alice)
    assert not scene.review().overridden
    scene.gitlab.set_labels(scene.pid, scene.iid, ["hotfix"], by=alice)
    assert scene.review("labeled").overridden


def test_the_override_command_from_a_maintainer_says_who_and_why(blocked: Scene) -> None:
    scene, before = blocked, counted()
    alice = person(scene, "alice", MAINTAINER)
    note = scene.gitlab.add_note(
        scene.pid, scene.iid, "/ai-review override hotfix for incident 42", author_id=alice
    )
    outcome = scene.review("override", note_id=note["id"], observer=PrometheusObserver())
    assert outcome.overridden and outcome.verdict == "changes requested"
    assert "overridden** by `alice` because: hotfix for incident 42." in scene.verdict_line()
    assert counted() == before + 1
    state = scene.ledger.publish_state(scene.pid, scene.iid)
    assert state.override is not None and (state.override.by, state.override.source) == ("alice", "command")

    # it covers what blocked when it was given: a new blocking finding blocks again
    scene.says["app/io.py"].append(finding("app/io.py", 20, "Shell command from input"))
    scene.push({"app/io.py": io_with(l5="eval(user_input)", l20="os.system(command)")})
    assert not scene.review("pushed").overridden


def test_the_override_command_from_a_developer_or_without_a_reason_is_refused(blocked: Scene) -> None:
    scene = blocked
    bob = person(scene, "bob", DEVELOPER)
    note = scene.gitlab.add_note(scene.pid, scene.iid, "/ai-review override trust me", author_id=bob)
    assert not scene.review("override", note_id=note["id"]).overridden
    assert (
        "Override by `bob` not applied: only Maintainers may override; bob is a Developer." in scene.summary()
    )

    alice = person(scene, "alice", MAINTAINER)
    bare = scene.gitlab.add_note(scene.pid, scene.iid, "/ai-review override", author_id=alice)
    assert not scene.review("override", note_id=bare["id"]).overridden
    assert "Override by `alice` not applied: an override needs a reason" in scene.summary()
    assert scene.ledger.publish_state(scene.pid, scene.iid).override is None


def test_an_override_on_nothing_blocking_is_not_recorded(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l5="value_5 = compute()")})
    scene.review()
    alice = person(scene, "alice", MAINTAINER)
    note = scene.gitlab.add_note(scene.pid, scene.iid, "/ai-review override just in case", author_id=alice)
    outcome = scene.review("override", note_id=note["id"])
    assert (outcome.verdict, outcome.overridden) == ("looks good", False)
    assert "nothing blocks this merge request" in scene.summary()
    assert scene.ledger.publish_state(scene.pid, scene.iid).override is None


def test_an_override_record_round_trips_through_the_ledger(blocked: Scene) -> None:
    scene = blocked
    state = scene.ledger.publish_state(scene.pid, scene.iid)
    given = Override("alice", "because", "command", ("ab" * 8,))
    scene.ledger.save_publish_state(scene.pid, scene.iid, type(state)(override=given, verdict="comments"))
    again = scene.ledger.publish_state(scene.pid, scene.iid)
    assert again.override == given and again.verdict == "comments" and not again.drafts_unavailable


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("/ai-review override hotfix  for\tincident 42", "hotfix for incident 42"),
        ("thanks\n  /ai-review override\n", ""),
        ("/ai-review\n/ai-review override later line", "later line"),
        ("/ai-review overrides", None),
        ("please /ai-review override x", None),
    ],
)
def test_the_reason_of_an_override_note(note: str, reason: str | None) -> None:
    assert override_reason(note) == reason
