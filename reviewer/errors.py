"""The project's exceptions: one root, branches by what the caller does about them.

    ReviewerError
    ├── TransientError        retry later (GitLab 5xx/429, gateway timeouts, connection errors)
    ├── PositionRejected      GitLab refused an inline position: fall back to the summary
    ├── WebhookRejected       refuse the delivery (wrong token): 401
    ├── ConfigError           stop and explain what to set
    ├── ModelOutputInvalid    the model answered garbage: count it and go on
    ├── GatewayRejected       every model refused the request for good (a 4xx): report it, go on
    │   └── PromptTooLong     ... because the prompt is over the model's context: ask about less
    ├── GitLabError           GitLab said no for good (404, 403, 400 outside positions)
    └── ReviewStopped         the review ran past its deadline or lost its MR lock: stop now

Messages carry ids, paths and HTTP statuses, never tokens or secrets.
"""

from __future__ import annotations


class ReviewerError(Exception):
    """Root of every error this project raises on purpose."""


class TransientError(ReviewerError):
    """A failure worth retrying later; ``retry_after`` is a hint in seconds, if the peer gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PositionRejected(ReviewerError):
    """GitLab answered 400 to an inline position; the finding goes into the summary instead."""


class WebhookRejected(ReviewerError):
    """A webhook delivery that must not be processed (missing or wrong secret token)."""


class ConfigError(ReviewerError):
    """The configuration cannot work; the message says what to set."""


class ModelOutputInvalid(ReviewerError):
    """The model's answer did not validate against the findings schema."""


class GitLabError(ReviewerError):
    """GitLab refused a request for a reason retrying will not fix."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GatewayRejected(ReviewerError):
    """Every model refused the request for a reason retrying will not fix (4xx other than 408/409/429)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ReviewStopped(ReviewerError):
    """The review was stopped from outside: its deadline passed, or another worker may now hold its
    merge request (the lock could not be renewed). Raised at the next call to GitLab or the model."""


class PromptTooLong(GatewayRejected):
    """Every model refused the prompt as longer than its context window: a smaller part may fit."""
