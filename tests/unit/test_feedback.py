"""Feedback as data: which way signals add up, what a posted finding is recorded as, the eval case
a judged hunk becomes, and what a re-review reads from the bot's threads."""

from __future__ import annotations

import yaml

from reviewer.diff.parsing import parse_unified
from reviewer.errors import TransientError
from reviewer.gitlab.api import BotThread
from reviewer.gitlab.feedback import applied, thread_feedback
from reviewer.gitlab.reactions import Reaction
from reviewer.review.evaluation import Case, Expected, score_case
from reviewer.review.feedback import (
    FeedbackEvent,
    FeedbackVerdict,
    Signal,
    eval_case,
    feedback_verdict,
    posted_findings,
)
from reviewer.review.findings import Finding, Severity, Side

DIFF = """--- a/app/db.py
+++ b/app/db.py
@@ -4,3 +4,3 @@ def find_user(conn, name):
     cursor = conn.cursor()
-    cursor.execute("SELECT * FROM users WHERE name = ?", (name,))
+    cursor.execute(f"SELECT * FROM users WHERE name = '{name}'")
     return cursor.fetchone()
"""


def _finding(aspect: str = "security", line: int = 5, source: str = "model") -> Finding:
    return Finding(
        aspect=aspect,
        severity=Severity.HIGH,
        path="app/db.py",
        line=line,
        side=Side.NEW,
        title="SQL from input",
        body="Why.",
        fingerprint=f"{'a' * 10}{line}{aspect[:2]}",
        source=source,
    )


def test_an_explicit_dismissal_wins_then_what_people_did_then_thumbs() -> None:
    assert (
        feedback_verdict({Signal.DISMISSED: 1, Signal.APPLIED: 1, Signal.THUMBS_UP: 3})
        is FeedbackVerdict.DISMISSED
    )
    assert feedback_verdict({Signal.RESOLVED: 1, Signal.THUMBS_DOWN: 2}) is FeedbackVerdict.ACCEPTED
    assert feedback_verdict({Signal.FIXED: 1}) is FeedbackVerdict.ACCEPTED
    assert feedback_verdict({Signal.THUMBS_UP: 1, Signal.THUMBS_DOWN: 2}) is FeedbackVerdict.DISMISSED
    assert feedback_verdict({Signal.THUMBS_UP: 1, Signal.THUMBS_DOWN: 1}) is None
    assert feedback_verdict({}) is None


def test_a_posted_finding_is_recorded_with_its_prompt_version_model_and_hunk() -> None:
    files = parse_unified(DIFF)
    model, detector = _finding(), _finding("security", 5, source="secrets")
    style = _finding("style", 6)
    recorded = posted_findings(
        [model, detector, style],
        files,
        team="payments",
        project="group/app",
        head_sha="abc",
        prompt_versions={"security+style": "v1"},
        models={"security+style": "openai/gpt-4o"},
    )
    assert [(r.aspect, r.category, r.prompt_version, r.model) for r in recorded] == [
        ("security", "security", "v1", "openai/gpt-4o"),
        ("security", "secrets", "", ""),  # a detector's finding: no prompt, no model
        ("style", "style", "v1", "openai/gpt-4o"),
    ]
    assert recorded[0].diff.startswith("--- a/app/db.py\n+++ b/app/db.py\n@@ -4,3 +4,3 @@ def find_user")
    assert parse_unified(recorded[0].diff)[0].hunks == files[0].hunks


def test_a_judged_hunk_becomes_an_eval_case_that_expects_the_accepted_finding_only() -> None:
    files = parse_unified(DIFF)
    accepted, dismissed = posted_findings(
        [_finding("security", 5), _finding("style", 6)],
        files,
        team="payments",
        project="group/app",
        head_sha="abc",
        prompt_versions={"security": "v1", "style": "v2"},
        models={},
    )
    case = eval_case([(accepted, FeedbackVerdict.ACCEPTED), (dismissed, FeedbackVerdict.DISMISSED)])
    assert case is not None
    diff, spec_text = case
    spec = yaml.safe_load(spec_text)
    assert spec["findings"] == [{"path": "app/db.py", "line": 5, "side": "new", "aspect": "security"}]
    assert [j["verdict"] for j in spec["judged"]] == ["accepted", "dismissed"]
    loaded = Case("c", diff, tuple(Expected(**f) for f in spec["findings"]))
    assert score_case(loaded, [_finding("security", 5), _finding("style", 6)], 0).score.false_positives == 1


def _thread(**fields: object) -> BotThread:
    base: dict[str, object] = {
        "discussion_id": "d1",
        "note_id": 10,
        "fingerprints": ("fpa", "fpb"),
        "anchors": (),
        "resolved": False,
        "path": "app/util.py",
        "side": Side.NEW,
        "line": 4,
    }
    return BotThread(**{**base, **fields})  # type: ignore[arg-type]


def test_a_rereview_reads_thumbs_resolutions_fixed_lines_and_applied_suggestions() -> None:
    thumbs = _thread()
    resolved = _thread(discussion_id="d2", note_id=20, resolved=True, resolved_by=7)
    by_bot = _thread(discussion_id="d3", note_id=30, resolved=True, resolved_by=1)
    suggested = _thread(
        discussion_id="d4", note_id=40, resolved=True, resolved_by=7, suggestion=("fpb", "    result += item")
    )
    reactions = {
        10: [Reaction(7, "thumbsup"), Reaction(1, "thumbsdown"), Reaction(8, "eyes")],
        20: [],
        30: [],
        40: [],
    }
    files = {"app/util.py": "def total(items):\n    result = 0\n    for item in items:\n    result += item\n"}

    events = thread_feedback(
        [thumbs, resolved, by_bot, suggested],
        [by_bot],
        bot_id=1,
        reactions=lambda note: reactions[note],
        read_file=files.get,
    )

    assert set(events) == {
        FeedbackEvent("fpa", Signal.THUMBS_UP, 7),
        FeedbackEvent("fpb", Signal.THUMBS_UP, 7),  # the bot's own thumbs do not count
        FeedbackEvent("fpa", Signal.RESOLVED, 7),
        FeedbackEvent("fpb", Signal.RESOLVED, 7),
        FeedbackEvent("fpa", Signal.FIXED),  # resolved by the bot because its line changed
        FeedbackEvent("fpb", Signal.FIXED),
        FeedbackEvent("fpb", Signal.APPLIED),  # only the finding that offered the suggestion
    }


def test_a_read_that_fails_costs_that_threads_feedback_only() -> None:
    def broken(note: int) -> list[Reaction]:
        raise TransientError("GitLab answered 502")

    events = thread_feedback(
        [_thread(resolved=True, resolved_by=7)], [], bot_id=1, reactions=broken, read_file=lambda path: None
    )
    assert {e.signal for e in events} == {Signal.RESOLVED}


def test_a_suggestion_is_applied_when_its_lines_stand_near_where_the_thread_was() -> None:
    text = "a\nb\n    x = 1\n    y = 2\nc\n"
    assert applied("    x = 1\n    y = 2", text, 3)
    assert applied("    x = 1  ", text, 40)  # trailing spaces aside, within the window
    assert not applied("    x = 1\n    z = 2", text, 3)
    assert not applied("    x = 1", text, 200)  # far from where the thread was
    assert not applied("", text, 3)  # a deletion leaves nothing to look for
