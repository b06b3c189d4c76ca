"""Prometheus metrics of this process, served by ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter("reviewer_webhooks", "Webhook deliveries by outcome", ["outcome"], registry=REGISTRY)
REVIEWS = Counter("reviewer_reviews", "Reviews by outcome", ["outcome", "tier"], registry=REGISTRY)
FINDINGS = Counter(
    "reviewer_findings", "Findings by aspect and placement", ["aspect", "placement"], registry=REGISTRY
)
TOKENS = Counter("reviewer_llm_tokens", "Model tokens by kind", ["kind", "team"], registry=REGISTRY)
COST = Counter("reviewer_llm_cost_usd", "Model cost in US dollars", ["team"], registry=REGISTRY)
REVIEW_SECONDS = Histogram(
    "reviewer_review_seconds",
    "Wall time of one review",
    registry=REGISTRY,
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)

# For the dashboard (docker/grafana/dashboards/reviewer.json). REVIEW_FAILURES and QUEUE_WAIT_SECONDS
# are defined exactly as on branch wt-a1, which counts them: keep one copy when both meet.
REVIEW_FAILURES = Counter(
    "reviewer_review_failures",
    "Reviews that failed for good (their summary note says so), by what failed",
    ["reason"],
    registry=REGISTRY,
)
QUEUE_WAIT_SECONDS = Histogram(
    "reviewer_queue_wait_seconds",
    "Time from a review's enqueueing to its first start on a worker",
    registry=REGISTRY,
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)
MODEL_CALLS = Counter(
    "reviewer_llm_calls",
    "Model calls by team, the model that answered (or was tried last) and outcome (answered, failed)",
    ["team", "model", "outcome"],
    registry=REGISTRY,
)
MODEL_TOKENS = Counter(
    "reviewer_llm_model_tokens",
    "Model tokens by team, model and kind",
    ["team", "model", "kind"],
    registry=REGISTRY,
)
MODEL_COST = Counter(
    "reviewer_llm_model_cost_usd",
    "Model cost in US dollars by team and model",
    ["team", "model"],
    registry=REGISTRY,
)
FEEDBACK = Counter(
    "reviewer_finding_feedback",
    "What people did with the bot's findings: verdict accepted (applied, resolved as fixed, thumbs up) "
    "or dismissed (won't fix, false positive, thumbs down)",
    ["team", "aspect", "verdict"],
    registry=REGISTRY,
)
OVERRIDES = Counter(
    "reviewer_overrides", "Break-glass overrides of the bot's verdict", ["team"], registry=REGISTRY
)
