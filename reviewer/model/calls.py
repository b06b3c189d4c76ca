"""What one model call sends and what comes back: the request, and the response read into a
Completion with its usage and cost.

Reading is tolerant: gateways in front of other providers bend the OpenAI shape a little, and a
body that is not a chat completion is a retryable failure, not a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion

from reviewer.model.aig import warn_once
from reviewer.model.failures import AttemptFailed
from reviewer.model.usage import Price, Usage

Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""


@dataclass(frozen=True)
class Request:
    """One call, whichever model it goes to."""

    messages: Sequence[Message]
    headers: Mapping[str, str]
    json_schema: Mapping[str, Any] | None = None  # asks for structured output (reviewer.model.structured)
    schema_name: str = "answer"
    max_tokens: int | None = None  # a cap on the answer's length (a reply in a thread)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str  # the configured name the answer came from (a fallback, maybe)
    usage: Usage
    cache_status: str | None  # cf-aig-cache-status: HIT, MISS, or None off the gateway
    log_id: str | None  # cf-aig-log-id
    finish_reason: str | None = None  # "length": cut off at max_tokens (or the context's end)


def read_completion(model: str, raw: Any, prices: Mapping[str, Price]) -> Completion:
    """The SDK's raw response (``with_raw_response``) as a Completion; raises AttemptFailed
    (retryable) for a body that is not JSON or has no usable first choice."""
    try:
        parsed = raw.parse()
    except ValueError:  # a JSON content type with a body that is not JSON
        raise AttemptFailed(model, "malformed body", status=raw.status_code, retryable=True) from None
    choices = getattr(parsed, "choices", None) if isinstance(parsed, ChatCompletion) else None
    if not isinstance(choices, list) or not choices:
        raise AttemptFailed(model, "malformed body: no choices", status=raw.status_code, retryable=True)
    text = getattr(getattr(choices[0], "message", None), "content", None)
    if text is not None and not isinstance(text, str):
        raise AttemptFailed(model, "malformed body: content", status=raw.status_code, retryable=True)
    finish_reason = getattr(choices[0], "finish_reason", None)
    return Completion(
        text=text or "",
        model=model,
        usage=usage_of(model, getattr(parsed, "usage", None), prices),
        cache_status=raw.headers.get("cf-aig-cache-status"),
        log_id=raw.headers.get("cf-aig-log-id"),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
    )


def usage_of(model: str, usage: object, prices: Mapping[str, Price]) -> Usage:
    """Tokens and cost of one answered call; a model without a price counts at 0 and is flagged."""
    if usage is None:  # llama.cpp, vLLM and Ollama send it; some proxies leave it out or null
        warn_once(("no usage", model), "llm model=%s reports no token usage: counted as 0 tokens", model)
    prompt = _count(getattr(usage, "prompt_tokens", 0))
    completion = _count(getattr(usage, "completion_tokens", 0))
    details = getattr(usage, "prompt_tokens_details", None)
    cached = min(_count(getattr(details, "cached_tokens", 0)), prompt)
    # AI Gateway names models "{provider}/{model}"; a table may use either spelling.
    price = prices.get(model) or prices.get(model.split("/", 1)[-1])
    if price is None:
        warn_once(("unpriced", model), "llm model=%s has no price configured: counted at cost 0", model)
        return Usage(prompt, cached, completion, 0.0, 1, frozenset({model}))
    return Usage(prompt, cached, completion, price.cost(prompt, cached, completion), 1)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
