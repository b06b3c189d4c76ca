"""One client for every model call: OpenAI chat completions through an OpenAI-compatible gateway.

Contracts this module follows:

- OpenAI Chat Completions, ``POST {base_url}/chat/completions``, through the official ``openai`` SDK
  (3.x, on httpx2). The SDK's own retries are off (``max_retries=0``): retries, backoff, fallback
  models and the circuit breaker are ours, so every attempt is seen, logged and priced.
- Cloudflare AI Gateway (developers.cloudflare.com/ai-gateway): the OpenAI-compatible base URL
  ``https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/compat`` with models named
  ``{provider}/{model}``. Request headers: ``cf-aig-metadata`` (a flat JSON object of at most five
  entries with string, number or boolean values; the gateway ignores entries past the fifth),
  ``cf-aig-authorization: Bearer <token>`` (authenticated gateway; ``Authorization`` keeps carrying
  the provider key), ``cf-aig-cache-ttl`` (seconds), ``cf-aig-skip-cache: true``. Response headers:
  ``cf-aig-cache-status`` (HIT or MISS) and ``cf-aig-log-id``.
- Structured output (DESIGN.md, Contracts): ``response_format`` of type ``json_schema`` (strict)
  where the endpoint takes it, ``json_object`` where it answers 400 to that (remembered per model);
  the answer is validated by ``findings.parse_answer`` either way, with at most one repair request.
- Self-hosted OpenAI-compatible servers (llama.cpp's llama-server, vLLM, Ollama): ``max_tokens``
  (the one limit all three read; Ollama ignores ``max_completion_tokens``) when configured; an
  answer cut off there (``finish_reason: "length"``) is not sent for repair, it raises AnswerCutOff;
  a 400 saying the prompt is over the model's context (or a 413) is PromptTooLong, not retried.
  ``usage`` may be missing or null: the call then counts zero tokens.

Only this module imports ``openai``. Its exceptions become ours at this border:

    TransientError      every model failed, at least one for a reason worth retrying later
                        (429, 408, 409, 5xx, timeout, connection error, malformed body, open breaker)
    GatewayRejected     every model refused the request for good (other 4xx): retrying won't help
    PromptTooLong       (a GatewayRejected) every model said the prompt is over its context window
    AnswerInvalid       (a ModelOutputInvalid) the answer stayed invalid after one repair request
    AnswerCutOff        (an AnswerInvalid) the answer was cut off at its length limit, unusable

Logs carry model, status, attempt, duration and token counts; never prompts, answers or keys.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import openai
from openai.types.chat import ChatCompletion
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from reviewer.errors import (
    ConfigError,
    GatewayRejected,
    ModelOutputInvalid,
    PromptTooLong,
    ReviewerError,
    TransientError,
)
from reviewer.model.aig import MetadataValue, metadata_header, warn_once
from reviewer.model.breaker import CircuitBreaker
from reviewer.model.usage import Price, Usage
from reviewer.review.findings import ANSWER_SCHEMA, Finding, ParsedAnswer, parse_answer

__all__ = [
    "AnswerCutOff",
    "AnswerInvalid",
    "AspectAnswer",
    "CircuitBreaker",
    "Completion",
    "GatewayConfig",
    "GatewayRejected",
    "LLMClient",
    "Message",
    "Price",
    "Usage",
    "metadata_header",
]

log = logging.getLogger(__name__)

Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

_REPAIR_ERROR_MAX_CHARS = 300
_DETAIL_MAX_CHARS = 200


# --------------------------------------------------------------------------------------------------
# Configuration and results


@dataclass(frozen=True)
class GatewayConfig:
    base_url: str
    api_key: str = field(repr=False)
    timeout: float = 60.0
    max_attempts: int = 4  # per model, first try included
    backoff_initial: float = 1.0
    backoff_max: float = 20.0
    retry_after_max: float = 30.0  # a longer Retry-After skips to the next model instead of waiting
    gateway_token: str | None = field(default=None, repr=False)  # -> cf-aig-authorization
    cache_ttl: int | None = None  # -> cf-aig-cache-ttl
    skip_cache: bool = False  # -> cf-aig-skip-cache
    structured: Literal["auto", "json_schema", "json_object"] = "auto"
    max_tokens: int | None = None  # the answer's limit; None leaves it to the server
    prices: Mapping[str, Price] = field(default_factory=dict)
    breaker_failures: int = 5
    breaker_cooldown: float = 60.0


@dataclass(frozen=True)
class Completion:
    text: str
    model: str  # the configured name the answer came from (a fallback, maybe)
    usage: Usage
    cache_status: str | None  # cf-aig-cache-status: HIT, MISS, or None off the gateway
    log_id: str | None  # cf-aig-log-id
    finish_reason: str | None = None  # "length": cut off at max_tokens (or the context's end)


@dataclass(frozen=True)
class AspectAnswer:
    findings: tuple[Finding, ...]
    rejected: tuple[str, ...]  # one reason per answer item that did not validate
    usage: Usage  # all calls, repair included
    model: str
    repaired: bool


class AnswerInvalid(ModelOutputInvalid):
    """The answer did not validate, even after one repair request. Carries what the calls cost."""

    def __init__(self, message: str, *, aspect: str, model: str, usage: Usage) -> None:
        super().__init__(message)
        self.aspect = aspect
        self.model = model
        self.usage = usage


class AnswerCutOff(AnswerInvalid):
    """The answer stopped at its length limit (``finish_reason: "length"``) before it was whole:
    asking again about less (half the chunk) may fit, a repair request would not."""


# --------------------------------------------------------------------------------------------------
# One failed attempt, as this module sees it


class _AttemptFailed(Exception):
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


class _ModelSkipped(_AttemptFailed):
    """The model's breaker is open: not tried at all."""


class _PromptTooLong(_AttemptFailed):
    """The model refused the prompt as longer than its context window."""


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
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


def _mentions_response_format(exc: openai.APIStatusError) -> bool:
    if exc.status_code not in (400, 422):
        return False
    if exc.param == "response_format":
        return True
    text = f"{exc.message} {exc.body}".lower()
    return "response_format" in text or "json_schema" in text


# --------------------------------------------------------------------------------------------------
# The client


class LLMClient:
    """Chat completions against the gateway, with retries, fallback models, a breaker, usage and cost.

    One instance serves a whole process: it is thread-safe, and the breaker and what it learned about
    each model's structured-output support are shared by every call.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not config.api_key:
            raise ConfigError("the gateway API key is empty: set REVIEWER_LLM_API_KEY")
        if config.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown, clock=clock)
        self._backoff = wait_exponential_jitter(
            multiplier=config.backoff_initial, max=config.backoff_max, jitter=config.backoff_initial
        )
        self._lock = threading.Lock()
        self._json_object_models: set[str] = set()
        self._secrets = tuple(s for s in (config.api_key, config.gateway_token) if s)
        try:
            self._sdk = openai.OpenAI(
                api_key=config.api_key, base_url=config.base_url, timeout=config.timeout, max_retries=0
            )
        except openai.OpenAIError as exc:
            raise ConfigError(f"cannot build the gateway client: {self._scrub(str(exc))}") from None

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    def close(self) -> None:
        self._sdk.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------
    # Public calls

    def complete(
        self,
        messages: Sequence[Message],
        *,
        models: Sequence[str],
        metadata: Mapping[str, MetadataValue | None] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        schema_name: str = "answer",
    ) -> Completion:
        """One answer from the first model that gives one, in order.

        Each model gets up to ``max_attempts`` tries for retryable failures; a non-retryable one
        (4xx other than 408/409/429) or an open breaker moves on to the next model at once.
        Raises TransientError or GatewayRejected when no model answered.
        """
        if not models:
            raise ValueError("complete() needs at least one model")
        headers = self._headers(metadata)
        failures: list[_AttemptFailed] = []
        for model in models:
            try:
                return self._call_model(model, messages, headers, json_schema, schema_name)
            except _AttemptFailed as failure:
                failures.append(failure)
                if model != models[-1]:
                    log.warning("llm model=%s gave up (%s), falling back", model, failure.reason)
        raise self._give_up(failures)

    def review(
        self,
        messages: Sequence[Message],
        *,
        models: Sequence[str],
        aspect: str,
        metadata: Mapping[str, MetadataValue | None] | None = None,
    ) -> AspectAnswer:
        """Findings for one aspect: asks for the findings schema, validates, repairs at most once.

        A partly valid answer keeps its valid findings (``rejected`` names the others) and is not
        repaired; an answer with nothing usable gets one repair request naming the error.
        Raises AnswerInvalid (a ModelOutputInvalid) when the repaired answer is still unusable.
        """
        first = self._ask_findings(messages, models, metadata)
        parsed, error = _validate(first.text, aspect)
        if parsed is not None:
            return AspectAnswer(parsed.findings, parsed.rejected, first.usage, first.model, repaired=False)
        if first.finish_reason == "length":
            raise _cut_off(aspect, first, first.usage)
        log.info("llm answer invalid model=%s aspect=%s: asking once for a repair", first.model, aspect)
        repair_models = [first.model, *(m for m in models if m != first.model)]
        second = self._ask_findings(_repair_messages(messages, first.text, error), repair_models, metadata)
        usage = first.usage + second.usage
        parsed, error = _validate(second.text, aspect)
        if parsed is None and second.finish_reason == "length":
            raise _cut_off(aspect, second, usage)
        if parsed is None:
            raise AnswerInvalid(
                f"{aspect}: answer from {second.model} still invalid after one repair: {error}",
                aspect=aspect,
                model=second.model,
                usage=usage,
            )
        return AspectAnswer(parsed.findings, parsed.rejected, usage, second.model, repaired=True)

    def _ask_findings(
        self,
        messages: Sequence[Message],
        models: Sequence[str],
        metadata: Mapping[str, MetadataValue | None] | None,
    ) -> Completion:
        return self.complete(
            messages, models=models, metadata=metadata, json_schema=ANSWER_SCHEMA, schema_name="findings"
        )

    # ---------------------------------------------------------------------------------------------
    # One model: retries with tenacity

    def _call_model(
        self,
        model: str,
        messages: Sequence[Message],
        headers: Mapping[str, str],
        json_schema: Mapping[str, Any] | None,
        schema_name: str,
    ) -> Completion:
        attempts = itertools.count(1)
        retrying = Retrying(
            stop=stop_after_attempt(self._config.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(self._worth_retrying),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(
            lambda: self._attempt(model, next(attempts), messages, headers, json_schema, schema_name)
        )

    def _worth_retrying(self, exc: BaseException) -> bool:
        if not isinstance(exc, _AttemptFailed) or isinstance(exc, _ModelSkipped) or not exc.retryable:
            return False
        return exc.retry_after is None or exc.retry_after <= self._config.retry_after_max

    def _wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _AttemptFailed) and exc.retry_after is not None:
            return exc.retry_after  # the peer said when; _worth_retrying has capped it
        return float(self._backoff(retry_state))

    def _attempt(
        self,
        model: str,
        attempt: int,
        messages: Sequence[Message],
        headers: Mapping[str, str],
        json_schema: Mapping[str, Any] | None,
        schema_name: str,
    ) -> Completion:
        if not self._breaker.allow(model):
            retry_in = self._breaker.retry_in(model)
            log.info("llm model=%s skipped: circuit open", model)
            raise _ModelSkipped(model, "circuit open", retryable=False, retry_after=retry_in)
        started = self._clock()
        try:
            completion = self._send(model, messages, headers, json_schema, schema_name)
        except _AttemptFailed as failure:
            self._record_failure(failure, attempt, started)
            raise
        self._breaker.success(model)
        self._log_success(completion, attempt, started)
        return completion

    def _send(
        self,
        model: str,
        messages: Sequence[Message],
        headers: Mapping[str, str],
        json_schema: Mapping[str, Any] | None,
        schema_name: str,
    ) -> Completion:
        response_format = self._response_format(model, json_schema, schema_name)
        if response_format is not None and response_format["type"] == "json_object":
            messages = _with_json_word(messages)
        try:
            raw = self._sdk.chat.completions.with_raw_response.create(
                model=model,
                messages=cast(Any, messages),
                response_format=cast(Any, response_format) if response_format else openai.omit,
                max_tokens=self._config.max_tokens if self._config.max_tokens is not None else openai.omit,
                extra_headers=dict(headers),
            )
        except openai.APIStatusError as exc:
            if self._may_downgrade(response_format) and _mentions_response_format(exc):
                self._downgrade(model)
                return self._send(model, messages, headers, json_schema, schema_name)
            raise self._translate(model, exc) from None
        except openai.OpenAIError as exc:
            raise self._translate(model, exc) from None
        return self._read(model, raw)

    # ---------------------------------------------------------------------------------------------
    # Structured output

    def _response_format(
        self, model: str, json_schema: Mapping[str, Any] | None, name: str
    ) -> dict[str, Any] | None:
        if json_schema is None:
            return None
        if self._config.structured == "json_object" or self._uses_json_object(model):
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "strict": True, "schema": dict(json_schema)},
        }

    def _may_downgrade(self, response_format: Mapping[str, Any] | None) -> bool:
        return (
            self._config.structured == "auto"
            and response_format is not None
            and response_format["type"] == "json_schema"
        )

    def _uses_json_object(self, model: str) -> bool:
        with self._lock:
            return model in self._json_object_models

    def _downgrade(self, model: str) -> None:
        with self._lock:
            self._json_object_models.add(model)
        log.info("llm model=%s does not take a json_schema response_format: using json_object", model)

    # ---------------------------------------------------------------------------------------------
    # Responses

    def _read(self, model: str, raw: Any) -> Completion:
        """Tolerant reading: gateways in front of other providers bend the OpenAI shape a little."""
        try:
            parsed = raw.parse()
        except ValueError:  # a JSON content type with a body that is not JSON
            raise _AttemptFailed(model, "malformed body", status=raw.status_code, retryable=True) from None
        choices = getattr(parsed, "choices", None) if isinstance(parsed, ChatCompletion) else None
        if not isinstance(choices, list) or not choices:
            raise _AttemptFailed(model, "malformed body: no choices", status=raw.status_code, retryable=True)
        text = getattr(getattr(choices[0], "message", None), "content", None)
        if text is not None and not isinstance(text, str):
            raise _AttemptFailed(model, "malformed body: content", status=raw.status_code, retryable=True)
        finish_reason = getattr(choices[0], "finish_reason", None)
        return Completion(
            text=text or "",
            model=model,
            usage=self._usage(model, getattr(parsed, "usage", None)),
            cache_status=raw.headers.get("cf-aig-cache-status"),
            log_id=raw.headers.get("cf-aig-log-id"),
            finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        )

    def _usage(self, model: str, usage: object) -> Usage:
        if usage is None:  # llama.cpp, vLLM and Ollama send it; some proxies leave it out or null
            warn_once(("no usage", model), "llm model=%s reports no token usage: counted as 0 tokens", model)
        prompt = _count(getattr(usage, "prompt_tokens", 0))
        completion = _count(getattr(usage, "completion_tokens", 0))
        details = getattr(usage, "prompt_tokens_details", None)
        cached = min(_count(getattr(details, "cached_tokens", 0)), prompt)
        # AI Gateway names models "{provider}/{model}"; a table may use either spelling.
        price = self._config.prices.get(model) or self._config.prices.get(model.split("/", 1)[-1])
        if price is None:
            warn_once(("unpriced", model), "llm model=%s has no price configured: counted at cost 0", model)
            return Usage(prompt, cached, completion, 0.0, 1, frozenset({model}))
        return Usage(prompt, cached, completion, price.cost(prompt, cached, completion), 1)

    # ---------------------------------------------------------------------------------------------
    # Failures

    def _translate(self, model: str, exc: openai.OpenAIError) -> _AttemptFailed:
        if isinstance(exc, openai.APITimeoutError):
            return _AttemptFailed(model, "timeout", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            return _AttemptFailed(model, "connection error", retryable=True)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retryable = status in (408, 409, 429) or status >= 500
            detail = f"{status} {self._scrub(str(exc.message))}" if not retryable else str(status)
            if _over_the_context(exc):
                return _PromptTooLong(model, detail, status=status, retryable=False)
            retry_after = _retry_after_seconds(exc.response.headers)
            return _AttemptFailed(model, detail, status=status, retryable=retryable, retry_after=retry_after)
        return _AttemptFailed(model, f"{type(exc).__name__}: {self._scrub(str(exc))}", retryable=False)

    def _record_failure(self, failure: _AttemptFailed, attempt: int, started: float) -> None:
        # A refusal of this request (400, 422...) says the model is reachable; the breaker counts
        # only what says it is not: retryable failures and 401/403/404 (a key or model name gone).
        if failure.retryable or failure.status in (401, 403, 404):
            self._breaker.failure(failure.model)
        else:
            self._breaker.success(failure.model)
        log.warning(
            "llm call failed model=%s status=%s reason=%s attempt=%d duration_ms=%.0f retry_after=%s",
            failure.model,
            failure.status,
            failure.reason,
            attempt,
            (self._clock() - started) * 1000,
            failure.retry_after,
        )

    def _log_success(self, completion: Completion, attempt: int, started: float) -> None:
        usage = completion.usage
        log.info(
            "llm call model=%s status=200 attempt=%d duration_ms=%.0f prompt_tokens=%d cached_tokens=%d "
            "completion_tokens=%d cache=%s log_id=%s",
            completion.model,
            attempt,
            (self._clock() - started) * 1000,
            usage.prompt_tokens,
            usage.cached_tokens,
            usage.completion_tokens,
            completion.cache_status,
            completion.log_id,
        )

    def _give_up(self, failures: Sequence[_AttemptFailed]) -> ReviewerError:
        summary = "; ".join(f"{f.model}: {f.reason}" for f in failures)
        if all(isinstance(f, _PromptTooLong) for f in failures):
            return PromptTooLong(
                f"the prompt is over every model's context: {summary}", status=failures[-1].status
            )
        if all(not f.retryable and not isinstance(f, _ModelSkipped) for f in failures):
            return GatewayRejected(f"gateway refused every model: {summary}", status=failures[-1].status)
        hints = [f.retry_after for f in failures if f.retry_after is not None]
        return TransientError(f"gateway: no model answered: {summary}", retry_after=min(hints, default=None))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _TOKEN_LIKE.sub("***", text)
        return text[:_DETAIL_MAX_CHARS]

    # ---------------------------------------------------------------------------------------------
    # Headers

    def _headers(self, metadata: Mapping[str, MetadataValue | None] | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        encoded = metadata_header(metadata) if metadata else None
        if encoded:
            headers["cf-aig-metadata"] = encoded
        if self._config.gateway_token:
            headers["cf-aig-authorization"] = f"Bearer {self._config.gateway_token}"
        if self._config.cache_ttl is not None:
            headers["cf-aig-cache-ttl"] = str(int(self._config.cache_ttl))
        if self._config.skip_cache:
            headers["cf-aig-skip-cache"] = "true"
        return headers


_TOKEN_LIKE = re.compile(r"(?i)\b(?:bearer\s+\S+|sk-[a-z0-9_\-]{8,})")


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _validate(text: str, aspect: str) -> tuple[ParsedAnswer | None, str]:
    """The parsed answer, or None and why: not JSON, wrong shape, or no item valid."""
    try:
        parsed = parse_answer(text, aspect)
    except ModelOutputInvalid as exc:
        return None, str(exc)
    if not parsed.findings and parsed.rejected:
        return None, "no finding is valid: " + "; ".join(parsed.rejected)
    return parsed, ""


def _cut_off(aspect: str, completion: Completion, usage: Usage) -> AnswerCutOff:
    return AnswerCutOff(
        f"{aspect}: the answer from {completion.model} was cut off at its length limit",
        aspect=aspect,
        model=completion.model,
        usage=usage,
    )


def _repair_messages(messages: Sequence[Message], answer: str, error: str) -> list[Message]:
    request = (
        f"That answer is not valid: {error[:_REPAIR_ERROR_MAX_CHARS]}. "
        'Reply with only the JSON object {"findings": [...]} in the required schema: '
        "no prose, no code fences."
    )
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": request}]


def _with_json_word(messages: Sequence[Message]) -> Sequence[Message]:
    # OpenAI refuses json_object mode unless a message says "JSON"; the prompts normally do.
    if any("json" in m.get("content", "").lower() for m in messages):
        return messages
    return [*messages, {"role": "system", "content": "Answer with one JSON object."}]
