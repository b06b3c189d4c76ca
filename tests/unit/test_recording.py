"""A review job's record: made of what the review reported and the job's outcome, every text
masked (the diff's secrets, secrets in the text itself, the configured ones), passed on to the
metrics observer unchanged."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from reviewer.app import redaction
from reviewer.app.recording import ReviewCapture
from reviewer.gitlab.client import MergeRequestInfo
from reviewer.model.usage import Usage
from reviewer.pipeline import ReviewOutcome
from reviewer.review.detectors.secrets import Masker
from reviewer.review.engine import Analysis, Failure
from reviewer.review.planning import Plan, Tier
from reviewer.review.verdict import Override

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
DIFF_SECRET = "s3cr3t-value-found-in-the-diff"


def _info(
    title: str = "Add steps", web_url: str = "https://gitlab.example/group/app/-/merge_requests/7"
) -> MergeRequestInfo:
    return MergeRequestInfo(
        7, "group/app", 7, title, "", "opened", False, "feature", "main", "f" * 40, web_url
    )


def _analysis(masker: Masker | None = None) -> Analysis:
    return Analysis(
        Plan(Tier.FULL, "sensitive paths", (), (), 40, 2),
        [], [], [Failure("style", ("app/a.py",), "the gateway failed", "HTTP 500")],
        Usage(prompt_tokens=900, completion_tokens=90, cost=0.9),
        {"security+style": "v-abc"}, ("security", "style"), 2, 1.5,
        failed_paths=("app/a.py",), reused=1,
        spent=Usage(prompt_tokens=300, completion_tokens=30, cost=0.3),
        masker=masker or Masker(),
    )  # fmt: skip


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def opened(self, info: MergeRequestInfo) -> None:
        self.calls.append(("opened", info))

    def analysed(self, team: str, analysis: Analysis) -> None:
        self.calls.append(("analysed", team))

    def overridden(self, team: str, override: Override) -> None:
        self.calls.append(("overridden", team))

    def finished(self, outcome: ReviewOutcome) -> None:
        self.calls.append(("finished", outcome.status))


def test_a_partial_review_is_recorded_with_what_this_run_spent() -> None:
    forward = Recorder()
    capture = ReviewCapture(forward, started_at=100.0)
    info, analysis = _info(), _analysis()
    outcome = ReviewOutcome(
        "partial", head_sha="f" * 40, tier="full", inline=2, in_summary=1,
        findings=(("security", "inline"), ("style", "inline"), ("security", "summary")),
    )  # fmt: skip
    capture.opened(info)
    capture.analysed("group:default/payments", analysis)
    capture.finished(outcome)

    record = capture.record(
        "job-1", 7, 7, "opened", {**outcome.as_dict(), "unreviewed": ["app/a.py"], "finished_at": 104.5}
    )

    assert forward.calls == [
        ("opened", info),
        ("analysed", "group:default/payments"),
        ("finished", "partial"),
    ]
    assert (record.job_id, record.project_id, record.iid, record.trigger) == ("job-1", 7, 7, "opened")
    assert (record.project, record.title, record.team) == ("group/app", "Add steps", "group:default/payments")
    assert record.web_url == info.web_url
    assert (record.status, record.tier, record.inline, record.in_summary) == ("partial", "full", 2, 1)
    assert record.findings == {"security": 2, "style": 1}
    assert (record.prompt_tokens, record.completion_tokens, record.cost) == (300, 30, 0.3)
    assert (record.reused, record.failures, record.unreviewed) == (1, 1, 1)
    assert record.prompt_versions == {"security+style": "v-abc"}
    assert record.duration == 4.5
    assert record.verdict is None


def test_a_job_that_failed_before_reading_the_mr_is_recorded_with_what_is_known() -> None:
    capture = ReviewCapture(None, started_at=10.0)
    record = capture.record(
        "job-2", 9, 3, "pushed", {"status": "failed", "reason": "GitLab: 503", "finished_at": 12.0}
    )
    assert (record.status, record.reason, record.project, record.team) == ("failed", "GitLab: 503", "", "")
    assert (record.tokens, record.cost, record.tier, record.prompt_versions) == (0, 0.0, None, {})


def test_titles_paths_and_reasons_are_stored_masked() -> None:
    redaction.install(["configured-gitlab-token-123"])
    capture = ReviewCapture(None, started_at=0.0)
    capture.opened(
        _info(
            title=f"Rotate {AWS_KEY_ID} and {DIFF_SECRET}",
            web_url=f"https://gitlab.example/group/app/-/merge_requests/7?{DIFF_SECRET}",
        )
    )
    capture.analysed("payments", _analysis(Masker([DIFF_SECRET])))

    record = capture.record(
        "job-3", 7, 7, "opened",
        {"status": "failed", "reason": "token configured-gitlab-token-123 refused", "finished_at": 1.0},
    )  # fmt: skip

    stored = record.as_json()
    for secret in (AWS_KEY_ID, DIFF_SECRET, "configured-gitlab-token-123"):
        assert secret not in stored
    assert record.title == "Rotate [REDACTED] and [REDACTED]"
    assert record.reason == "token [SECRET] refused"
    assert record.web_url.endswith("?[REDACTED]")


def test_only_http_links_are_kept() -> None:
    capture = ReviewCapture(None, started_at=0.0)
    capture.opened(_info(web_url="javascript:alert(document.cookie)"))
    assert capture.record("job-4", 7, 7, "opened", {"status": "skipped"}).web_url == ""


class Verdict(StrEnum):
    LOOKS_GOOD = "looks_good"


def test_a_verdict_in_the_outcome_is_recorded_in_words() -> None:
    capture = ReviewCapture(None, started_at=0.0)
    assert capture.record("j", 1, 1, "opened", {"status": "reviewed"}).verdict is None
    record = capture.record("j", 1, 1, "opened", {"status": "reviewed", "verdict": Verdict.LOOKS_GOOD})
    assert record.verdict == "looks good"
    assert (
        capture.record("j", 1, 1, "opened", {"verdict": "changes requested"}).verdict == "changes requested"
    )
