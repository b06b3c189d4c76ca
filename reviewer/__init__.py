"""An AI code reviewer for GitLab merge requests. A review travels webhook (``reviewer.app.web``)
-> Celery task (``workers``) -> ``reviewer.pipeline`` -> ``reviewer.review.engine`` ->
``reviewer.model`` -> ``reviewer.gitlab`` (publishing); docs/design.md tells the whole path.

Rule: the domain packages (diff, review, model, gitlab, catalog, pipeline) use no web framework,
queue, Redis or metrics and never ``reviewer.app`` or ``workers``; only ``reviewer.app`` wires them
and only ``reviewer.app.config`` reads the environment (pyproject.toml's import contracts and
tests/unit/test_layers.py check it).
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.catalog import BackstageCatalog, ServiceCatalog, ServiceContext
    from reviewer.errors import (
        ConfigError,
        GatewayRejected,
        GitLabError,
        ModelOutputInvalid,
        PositionRejected,
        PromptTooLong,
        ReviewerError,
        TransientError,
        WebhookRejected,
    )
    from reviewer.pipeline import ReviewObserver, ReviewOutcome, ReviewRequest, review_merge_request
    from reviewer.policy import team_policy

__all__ = [
    "BackstageCatalog",
    "ConfigError",
    "GatewayRejected",
    "GitLabError",
    "ModelOutputInvalid",
    "PositionRejected",
    "PromptTooLong",
    "ReviewObserver",
    "ReviewOutcome",
    "ReviewRequest",
    "ReviewerError",
    "ServiceCatalog",
    "ServiceContext",
    "TransientError",
    "WebhookRejected",
    "review_merge_request",
    "team_policy",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "catalog": ("BackstageCatalog", "ServiceCatalog", "ServiceContext"),
        "errors": (
            "ConfigError",
            "GatewayRejected",
            "GitLabError",
            "ModelOutputInvalid",
            "PositionRejected",
            "PromptTooLong",
            "ReviewerError",
            "TransientError",
            "WebhookRejected",
        ),
        "pipeline": ("ReviewObserver", "ReviewOutcome", "ReviewRequest", "review_merge_request"),
        "policy": ("team_policy",),
    },
)
