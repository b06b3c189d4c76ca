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


def test_the_second_look_counts_kept_dropped_and_unchecked_findings_once() -> None:
    from dataclasses import replace

    from reviewer.review.findings import Finding, Severity, Side
    from reviewer.review.verify import SecondLook

    plan = Plan(Tier.LITE, "small", (), (), 3, 1)
    finding = Finding("style", Severity.LOW, "a.py", 1, Side.NEW, "t", "b")
    analysis = Analysis(plan, [], [], [], Usage(), {}, (), 1, 0.1)
    looked = replace(analysis, second_look=SecondLook(checked=3, dropped=((finding, "no"),)))
    before = {
        v: _sample("reviewer_second_look_findings_total", team="t", verdict=v)
        for v in ("kept", "dropped", "unchecked")
    }

    PrometheusObserver().analysed("t", looked)
    PrometheusObserver().analysed("t", replace(looked, second_look=replace(looked.second_look, reused=True)))
    PrometheusObserver().analysed("t", replace(analysis, second_look=SecondLook(checked=2, problem="failed")))

    after = {v: _sample("reviewer_second_look_findings_total", team="t", verdict=v) for v in before}
    assert {v: after[v] - before[v] for v in before} == {"kept": 2, "dropped": 1, "unchecked": 2}


def test_calls_tokens_and_cost_are_counted_per_model_for_the_dashboard() -> None:
    plan = Plan(Tier.FULL, "auth", (), (), 3, 2)
    lite, main = Usage(prompt_tokens=100, completion_tokens=20, cost=0.01, calls=1), Usage(
        prompt_tokens=700, completion_tokens=90, cost=0.2, calls=2
    )
    analysis = Analysis(
        plan, [], [], [], lite + main, {}, (), 3, 0.5, spent=lite + main,
        spent_by_model={"openai/gpt-4o-mini": lite, "openai/gpt-4o": main},
    )  # fmt: skip
    labels = {"team": "payments", "model": "openai/gpt-4o"}
    calls = _sample("reviewer_llm_calls_total", outcome="answered", **labels)
    tokens = _sample("reviewer_llm_model_tokens_total", kind="prompt", **labels)
    cost = _sample("reviewer_llm_model_cost_usd_total", **labels)
    PrometheusObserver().analysed("payments", analysis)
    assert _sample("reviewer_llm_calls_total", outcome="answered", **labels) == calls + 2
    assert _sample("reviewer_llm_model_tokens_total", kind="prompt", **labels) == tokens + 700
    assert _sample("reviewer_llm_model_cost_usd_total", **labels) == cost + 0.2
