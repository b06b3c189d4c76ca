"""One failed model call as the client sees it, and how failures become the project's errors.

An attempt fails retryably (429, 408, 409, 5xx, timeout, connection error, malformed body) or for
good (any other 4xx); a model whose breaker is open is skipped without a call. When no model
answered, ``give_up`` says which of the project's errors that is:

    TransientError      at least one model failed for a reason worth retrying later
    GatewayRejected     every model refused the request for good: retrying won't help

Texts that leave this module are scrubbed of the keys they could echo.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence

import openai

from reviewer.errors import GatewayRejected, PromptTooLong, ReviewerError, TransientError

_DETAIL_MAX_CHARS = 200
_TOKEN_LIKE = re.compile(r"(?i)\b(?:bearer\s+\S+|sk-[a-z0-9_\-]{8,})")


class AttemptFailed(Exception):
    def __init__(
        self,
        model: str,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{model}: {reason}")
        self.model = model
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class ModelSkipped(AttemptFailed):
    """The model's breaker is open: not tried at all."""


class Scrubber:
    """Takes the configured keys, and anything shaped like a bearer token or API key, out of text."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = tuple(s for s in secrets if s)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _TOKEN_LIKE.sub("***", text)[:_DETAIL_MAX_CHARS]


class PromptTooLongAttempt(AttemptFailed):
    """The model refused the prompt as longer than its context window."""


# How llama-server, vLLM, Ollama and OpenAI say that a prompt is over the model's context window.
_CONTEXT_WORDS = re.compile(
    r"exceed_context_size|context_length_exceeded|maximum context length"
    r"|exceeds? the (?:available )?context (?:size|length)",
    re.IGNORECASE,
)


def _over_the_context(exc: openai.APIStatusError) -> bool:
    if exc.status_code == 413:  # a body too large for the server or a proxy in front of it
        return True
    return exc.status_code == 400 and bool(_CONTEXT_WORDS.search(f"{exc.message} {exc.body}"))


def translate(model: str, exc: openai.OpenAIError, scrub: Scrubber) -> AttemptFailed:
    """The openai SDK's error as one failed attempt of ``model``."""
    if isinstance(exc, openai.APITimeoutError):
        return AttemptFailed(model, "timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return AttemptFailed(model, "connection error", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409, 429) or status >= 500
        detail = f"{status} {scrub(str(exc.message))}" if not retryable else str(status)
        if _over_the_context(exc):
            return PromptTooLongAttempt(model, detail, status=status, retryable=False)
        retry_after = retry_after_seconds(exc.response.headers)
        return AttemptFailed(model, detail, status=status, retryable=retryable, retry_after=retry_after)
    return AttemptFailed(model, f"{type(exc).__name__}: {scrub(str(exc))}", retryable=False)


def give_up(failures: Sequence[AttemptFailed]) -> ReviewerError:
    """The error for a call that no model answered."""
    summary = "; ".join(f"{f.model}: {f.reason}" for f in failures)
    if all(isinstance(f, PromptTooLongAttempt) for f in failures):
        return PromptTooLong(
            f"the prompt is over every model's context: {summary}", status=failures[-1].status
        )
    if all(not f.retryable and not isinstance(f, ModelSkipped) for f in failures):
        return GatewayRejected(f"gateway refused every model: {summary}", status=failures[-1].status)
    hints = [f.retry_after for f in failures if f.retry_after is not None]
    return TransientError(f"gateway: no model answered: {summary}", retry_after=min(hints, default=None))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms``, then ``retry-after`` as seconds or as an HTTP date."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    date = headers.get("retry-after")
    if date:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(date).timestamp() - time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return None
