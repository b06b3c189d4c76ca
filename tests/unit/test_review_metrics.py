"""The app layer's observer turns what a review reports into Prometheus counters."""

from __future__ import annotations

from reviewer.app import metrics
from reviewer.app.review_metrics import PrometheusObserver
from reviewer.model.usage import Usage
from reviewer.pipeline import ReviewOutcome
from reviewer.review.engine import Analysis
from reviewer.review.planning import Plan, Tier


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_only_the_model_calls_this_run_made_are_counted_as_spent() -> None:
    plan = Plan(Tier.LITE, "small", (), (), 3, 1)
    analysis = Analysis(
        plan, [], [], [], Usage(prompt_tokens=900, cost=0.9), {}, (), 3, 0.5,
        reused=2, spent=Usage(prompt_tokens=300, cost=0.3),
    )  # fmt: skip
    before = _sample("reviewer_llm_tokens_total", kind="prompt", team="payments")
    PrometheusObserver().analysed("payments", analysis)
    assert _sample("reviewer_llm_tokens_total", kind="prompt", team="payments") == before + 300


def test_a_partial_review_and_its_findings_are_counted() -> None:
    before = _sample("reviewer_reviews_total", outcome="partial", tier="lite")
    found = _sample("reviewer_findings_total", aspect="security", placement="inline")
    outcome = ReviewOutcome("partial", tier="lite", findings=(("security", "inline"), ("style", "summary")))
    PrometheusObserver().finished(outcome)
    assert _sample("reviewer_reviews_total", outcome="partial", tier="lite") == before + 1
    assert _sample("reviewer_findings_total", aspect="security", placement="inline") == found + 1
    skipped = _sample("reviewer_reviews_total", outcome="skipped", tier="unknown")
    PrometheusObserver().finished(ReviewOutcome("skipped"))
    assert _sample("reviewer_reviews_total", outcome="skipped", tier="unknown") == skipped
