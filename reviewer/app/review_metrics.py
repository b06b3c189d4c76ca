"""A review's counts in this process's Prometheus metrics (``reviewer.app.metrics``): the app
layer's implementation of ``reviewer.pipeline.ReviewObserver``, so the pipeline imports no
metrics library."""

from __future__ import annotations

from reviewer.app import metrics
from reviewer.gitlab.client import MergeRequestInfo
from reviewer.pipeline import ReviewOutcome
from reviewer.review.engine import Analysis
from reviewer.review.verdict import Override

_COUNTED = ("reviewed", "partial", "superseded")


class PrometheusObserver:
    def opened(self, info: MergeRequestInfo) -> None:
        """Nothing to count until the review has run."""

    def analysed(self, team: str, analysis: Analysis) -> None:
        """Tokens and cost of the model calls this run made (stored answers reused cost nothing)."""
        spent = analysis.spent
        metrics.TOKENS.labels(kind="prompt", team=team).inc(spent.prompt_tokens)
        metrics.TOKENS.labels(kind="cached", team=team).inc(spent.cached_tokens)
        metrics.TOKENS.labels(kind="completion", team=team).inc(spent.completion_tokens)
        metrics.COST.labels(team=team).inc(spent.cost)
        metrics.REVIEW_SECONDS.observe(analysis.seconds)
        for model, used in analysis.spent_by_model.items():
            metrics.MODEL_CALLS.labels(team=team, model=model, outcome="answered").inc(used.calls)
            for kind, tokens in (("prompt", used.prompt_tokens), ("completion", used.completion_tokens)):
                metrics.MODEL_TOKENS.labels(team=team, model=model, kind=kind).inc(tokens)
            metrics.MODEL_COST.labels(team=team, model=model).inc(used.cost)
        look = analysis.second_look
        if look.checked and not look.reused:  # a retry's stored verdicts were counted the first time
            dropped = len(look.dropped)
            kept = "unchecked" if look.problem else "kept"
            metrics.SECOND_LOOK.labels(team=team, verdict=kept).inc(look.checked - dropped)
            metrics.SECOND_LOOK.labels(team=team, verdict="dropped").inc(dropped)

    def overridden(self, team: str, override: Override) -> None:
        """A break-glass override of the bot's blocking verdict, counted once per MR."""
        metrics.OVERRIDES.labels(team=team).inc()

    def finished(self, outcome: ReviewOutcome) -> None:
        if outcome.status in _COUNTED:
            metrics.REVIEWS.labels(outcome=outcome.status, tier=outcome.tier or "unknown").inc()
        for aspect, placement in outcome.findings:
            metrics.FINDINGS.labels(aspect=aspect, placement=placement).inc()
