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
