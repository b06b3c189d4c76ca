"""One client for every model call: OpenAI chat completions through an OpenAI-compatible gateway.

Contracts this module follows:

- OpenAI Chat Completions, ``POST {base_url}/chat/completions``, through the official ``openai`` SDK
  (3.x, on httpx2). The SDK's own retries are off (``max_retries=0``): retries, backoff, fallback
  models and the circuit breaker are ours, so every attempt is seen, logged and priced.
- Cloudflare AI Gateway: the OpenAI-compatible base URL
  ``https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/compat`` with models named
  ``{provider}/{model}``; its request headers are built by ``reviewer.model.aig``; its response
  headers ``cf-aig-cache-status`` (HIT or MISS) and ``cf-aig-log-id`` are read by
  ``reviewer.model.calls``.
- Structured output (DESIGN.md, Contracts): ``reviewer.model.structured`` picks the
  ``response_format``; the answer is validated by ``reviewer.model.answers`` either way, with at
  most one repair request.
- Self-hosted OpenAI-compatible servers (llama.cpp's llama-server, vLLM, Ollama): ``max_tokens``
  (the one limit all three read; Ollama ignores ``max_completion_tokens``) when configured; an
  answer cut off there (``finish_reason: "length"``) is not sent for repair, it raises AnswerCutOff;
  a 400 saying the prompt is over the model's context (or a 413) is PromptTooLong, not retried.
  ``usage`` may be missing or null: the call then counts zero tokens.

Only this package imports ``openai``. Its exceptions become ours at this border
(``reviewer.model.failures``):

    TransientError      every model failed, at least one for a reason worth retrying later
                        (429, 408, 409, 5xx, timeout, connection error, malformed body, open breaker)
    GatewayRejected     every model refused the request for good (other 4xx): retrying won't help
    PromptTooLong       (a GatewayRejected) every model said the prompt is over its context window
    AnswerInvalid       (a ModelOutputInvalid) the answer stayed invalid after one repair request
    AnswerCutOff        (an AnswerInvalid) the answer was cut off at its length limit, unusable

Logs carry model, status, attempt, duration and token counts; never prompts, answers or keys.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from reviewer import deadline
from reviewer.errors import ConfigError, GatewayRejected
from reviewer.model.aig import MetadataValue, metadata_header, request_headers
from reviewer.model.answers import (
    AnswerCutOff,
    AnswerInvalid,
    AspectAnswer,
    cut_off,
    repair_messages,
    validate,
)
from reviewer.model.breaker import CircuitBreaker
from reviewer.model.calls import Completion, Message, Request, read_completion
from reviewer.model.failures import AttemptFailed, ModelSkipped, Scrubber, give_up, translate
from reviewer.model.structured import StructuredMode, StructuredOutput, strict_schema, with_json_word
from reviewer.model.usage import Price, Usage
from reviewer.review.findings import ANSWER_SCHEMA

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

_FINDINGS_SCHEMA = strict_schema(ANSWER_SCHEMA)


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
    structured: StructuredMode = "auto"
    max_tokens: int | None = None  # the answer's limit; None leaves it to the server
    prices: Mapping[str, Price] = field(default_factory=dict)
    breaker_failures: int = 5
    breaker_cooldown: float = 60.0


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
        self._structured = StructuredOutput(config.structured)
        self._scrub = Scrubber((config.api_key, config.gateway_token))
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
        max_tokens: int | None = None,
    ) -> Completion:
        """One answer from the first model that gives one, in order; ``max_tokens`` caps its length.

        Each model gets up to ``max_attempts`` tries for retryable failures; a non-retryable one
        (4xx other than 408/409/429) or an open breaker moves on to the next model at once.
        Raises TransientError or GatewayRejected when no model answered.
        """
        if not models:
            raise ValueError("complete() needs at least one model")
        headers = request_headers(
            metadata,
            gateway_token=self._config.gateway_token,
            cache_ttl=self._config.cache_ttl,
            skip_cache=self._config.skip_cache,
        )
        request = Request(messages, headers, json_schema, schema_name, max_tokens)
        failures: list[AttemptFailed] = []
        for model in models:
            try:
                return self._call_model(model, request)
            except AttemptFailed as failure:
                failures.append(failure)
                if model != models[-1]:
                    log.warning("llm model=%s gave up (%s), falling back", model, failure.reason)
        raise give_up(failures)

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
        parsed, error = validate(first.text, aspect)
        if parsed is not None:
            return AspectAnswer(parsed.findings, parsed.rejected, first.usage, first.model, repaired=False)
        if first.finish_reason == "length":
            raise cut_off(aspect, first.model, first.usage)
        log.info("llm answer invalid model=%s aspect=%s: asking once for a repair", first.model, aspect)
        repair_models = [first.model, *(m for m in models if m != first.model)]
        second = self._ask_findings(repair_messages(messages, first.text, error), repair_models, metadata)
        usage = first.usage + second.usage
        parsed, error = validate(second.text, aspect)
        if parsed is None and second.finish_reason == "length":
            raise cut_off(aspect, second.model, usage)
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
            messages, models=models, metadata=metadata, json_schema=_FINDINGS_SCHEMA, schema_name="findings"
        )

    # ---------------------------------------------------------------------------------------------
    # One model: retries with tenacity

    def _call_model(self, model: str, request: Request) -> Completion:
        attempts = itertools.count(1)
        retrying = Retrying(
            stop=stop_after_attempt(self._config.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(self._worth_retrying),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(lambda: self._attempt(model, next(attempts), request))

    def _worth_retrying(self, exc: BaseException) -> bool:
        if not isinstance(exc, AttemptFailed) or isinstance(exc, ModelSkipped) or not exc.retryable:
            return False
        return exc.retry_after is None or exc.retry_after <= self._config.retry_after_max

    def _wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, AttemptFailed) and exc.retry_after is not None:
            return exc.retry_after  # the peer said when; _worth_retrying has capped it
        return float(self._backoff(retry_state))

    def _attempt(self, model: str, attempt: int, request: Request) -> Completion:
        deadline.check(f"ask {model}")
        if not self._breaker.allow(model):
            retry_in = self._breaker.retry_in(model)
            log.info("llm model=%s skipped: circuit open", model)
            raise ModelSkipped(model, "circuit open", retryable=False, retry_after=retry_in)
        started = self._clock()
        try:
            completion = self._send(model, request)
        except AttemptFailed as failure:
            self._record_failure(failure, attempt, started)
            raise
        self._breaker.success(model)
        self._log_success(completion, attempt, started)
        return completion

    def _send(self, model: str, request: Request) -> Completion:
        response_format = self._structured.response_format(model, request.json_schema, request.schema_name)
        messages = request.messages
        if response_format is not None and response_format["type"] == "json_object":
            messages = with_json_word(messages)
        try:
            raw = self._sdk.chat.completions.with_raw_response.create(
                model=model,
                messages=cast(Any, messages),
                response_format=cast(Any, response_format) if response_format else openai.omit,
                # a request's own cap (a reply in a thread), else the configured one (self-hosted servers)
                max_tokens=_first(request.max_tokens, self._config.max_tokens),
                extra_headers=dict(request.headers),
                timeout=deadline.clamp(self._config.timeout),
            )
        except openai.APIStatusError as exc:
            if self._structured.may_downgrade(response_format, exc):
                self._structured.downgrade(model)
                return self._send(model, request)
            raise translate(model, exc, self._scrub) from None
        except openai.OpenAIError as exc:
            raise translate(model, exc, self._scrub) from None
        return read_completion(model, raw, self._config.prices)

    # ---------------------------------------------------------------------------------------------
    # What each attempt leaves behind

    def _record_failure(self, failure: AttemptFailed, attempt: int, started: float) -> None:
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


def _first(*limits: int | None) -> int | openai.Omit:
    """The first limit given, or none at all (the server's own)."""
    return next((limit for limit in limits if limit is not None), openai.omit)
