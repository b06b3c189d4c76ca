"""reviewer.model.client against the gateway stand-in, over HTTP, through the real openai SDK."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from fakes.gateway_server import (
    FakeGateway,
    answer,
    error,
    hang,
    malformed,
    rate_limited,
)
from openai.types.chat import ChatCompletion

from reviewer.errors import GatewayRejected, ModelOutputInvalid, TransientError
from reviewer.model.client import AnswerInvalid, GatewayConfig, LLMClient
from reviewer.model.usage import Price, Usage

API_KEY = "sk-test-provider-key-0123456789"
GATEWAY_TOKEN = "cf-gateway-token-abcdef987654"
MESSAGES = [
    {"role": "system", "content": "You review code. Answer in JSON."},
    {"role": "user", "content": "<diff>\n+ query = f'SELECT {x}'\n</diff>"},
]
FINDING = {
    "path": "app/db.py",
    "line": 42,
    "side": "new",
    "end_line": None,
    "severity": "high",
    "category": "security",
    "title": "SQL built by string formatting",
    "body": "Use parameters.",
    "suggestion": None,
    "confidence": 0.9,
}
VALID = json.dumps({"findings": [FINDING]})


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK reads OPENAI_* variables (base URL, org, project, even extra headers): keep them out.
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_CUSTOM_HEADERS", raising=False)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        yield gw


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """An LLMClient on a gateway, with recorded sleeps and a clock the test moves."""

    def __init__(self, gateway: FakeGateway, **config: Any) -> None:
        self.sleeps: list[float] = []
        self.clock = FakeClock()
        base = GatewayConfig(
            base_url=gateway.base_url, api_key=API_KEY, timeout=5.0, max_attempts=3, backoff_initial=0.5
        )
        self.config = replace(base, **config)
        self.client = LLMClient(self.config, sleep=self.sleeps.append, clock=self.clock)


@pytest.fixture
def harness(gateway: FakeGateway) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**config: Any) -> Harness:
        made.append(Harness(gateway, **config))
        return made[-1]

    yield make
    for h in made:
        h.client.close()


def models_asked(gateway: FakeGateway) -> list[str | None]:
    return [r.model for r in gateway.requests]


# ------------------------------------------------------------------------------------------------
# Retries, fallbacks, timeouts


def test_rate_limit_waits_as_long_as_retry_after_then_succeeds(gateway, harness):
    h = harness()
    gateway.script(rate_limited(retry_after=7), answer("ok"))

    result = h.client.complete(MESSAGES, models=["m"])

    assert result.text == "ok"
    assert h.sleeps == [7.0]
    assert len(gateway.requests) == 2


def test_retry_after_ms_is_read_in_milliseconds(gateway, harness):
    h = harness()
    gateway.script(rate_limited(retry_after=None, retry_after_ms=1500), answer("ok"))

    h.client.complete(MESSAGES, models=["m"])

    assert h.sleeps == [1.5]


def test_retry_after_beyond_the_cap_goes_to_the_fallback_without_waiting(gateway, harness):
    h = harness(retry_after_max=30)
    gateway.script(rate_limited(retry_after=600), model="a")
    gateway.script(answer("from b"), model="b")

    result = h.client.complete(MESSAGES, models=["a", "b"])

    assert (result.text, result.model) == ("from b", "b")
    assert h.sleeps == []
    assert models_asked(gateway) == ["a", "b"]


def test_server_errors_use_up_the_attempts_then_the_fallback_model_answers(gateway, harness):
    h = harness(max_attempts=3, backoff_initial=0.5, backoff_max=4)
    gateway.script(error(500), error(502), error(503), model="a")
    gateway.script(answer("from b"), model="b")

    result = h.client.complete(MESSAGES, models=["a", "b"])

    assert result.model == "b"
    assert models_asked(gateway) == ["a", "a", "a", "b"]
    assert len(h.sleeps) == 2
    assert all(0.5 <= s <= 4 for s in h.sleeps)


def test_every_model_failing_raises_transient_error_with_the_shortest_hint(gateway, harness):
    h = harness(max_attempts=2, retry_after_max=1)
    gateway.script(rate_limited(retry_after=90), model="a")
    gateway.script(error(503), error(503), model="b")

    with pytest.raises(TransientError) as caught:
        h.client.complete(MESSAGES, models=["a", "b"])

    assert caught.value.retry_after == 90
    assert "a: 429" in str(caught.value) and "b: 503" in str(caught.value)


def test_a_client_error_is_not_retried_and_falls_back(gateway, harness):
    h = harness()
    gateway.script(error(404, "model not found", type="invalid_request_error"), model="a")

    result = h.client.complete(MESSAGES, models=["a", "b"])

    assert result.model == "b"
    assert models_asked(gateway) == ["a", "b"]
    assert h.sleeps == []


def test_client_errors_from_every_model_raise_gateway_rejected(gateway, harness):
    h = harness()
    gateway.script(error(400, "context length exceeded", type="invalid_request_error"), model="a")
    gateway.script(error(422, "unprocessable", type="invalid_request_error"), model="b")

    with pytest.raises(GatewayRejected) as caught:
        h.client.complete(MESSAGES, models=["a", "b"])

    assert caught.value.status == 422
    assert len(gateway.requests) == 2


def test_a_hanging_call_times_out_and_is_retried(gateway, harness):
    h = harness(timeout=0.3)
    gateway.script(hang(5), answer("after the hang"))

    result = h.client.complete(MESSAGES, models=["m"])

    assert result.text == "after the hang"
    assert len(gateway.requests) == 2
    assert len(h.sleeps) == 1


def test_a_malformed_body_is_retried(gateway, harness):
    h = harness()
    gateway.script(malformed(), malformed(b"<html>502</html>", content_type="text/html"), answer("ok"))

    assert h.client.complete(MESSAGES, models=["m"]).text == "ok"
    assert len(gateway.requests) == 3


# ------------------------------------------------------------------------------------------------
# Structured output, validation and repair


def test_findings_are_asked_with_the_strict_json_schema(gateway, harness):
    h = harness()
    gateway.script(VALID)

    result = h.client.review(MESSAGES, models=["m"], aspect="security")

    fmt = gateway.requests[0].response_format
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "findings" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["findings"]
    assert [f.title for f in result.findings] == ["SQL built by string formatting"]
    assert result.findings[0].aspect == "security"
    assert result.repaired is False


def test_invalid_json_gets_one_repair_request_that_names_the_error(gateway, harness):
    h = harness()
    gateway.script(
        answer("Sure! Here are the findings: [", prompt_tokens=100), answer(VALID, prompt_tokens=130)
    )

    result = h.client.review(MESSAGES, models=["m"], aspect="security")

    assert result.repaired is True
    assert len(result.findings) == 1
    repair = gateway.requests[1].messages
    assert repair[: len(MESSAGES)] == MESSAGES
    assert repair[-2] == {"role": "assistant", "content": "Sure! Here are the findings: ["}
    assert repair[-1]["role"] == "user" and "not JSON" in repair[-1]["content"]
    assert result.usage.prompt_tokens == 230 and result.usage.calls == 2


def test_an_answer_invalid_twice_raises_model_output_invalid(gateway, harness):
    h = harness()
    gateway.script("not json", '{"items": []}')

    with pytest.raises(ModelOutputInvalid) as caught:
        h.client.review(MESSAGES, models=["m"], aspect="style")

    assert isinstance(caught.value, AnswerInvalid)
    assert caught.value.usage.calls == 2
    assert "findings" in str(caught.value)
    assert len(gateway.requests) == 2


def test_a_partly_valid_answer_keeps_its_valid_findings_without_repair(gateway, harness):
    h = harness()
    broken = {**FINDING, "line": 0, "title": "bad line"}
    gateway.script(json.dumps({"findings": [FINDING, broken]}))

    result = h.client.review(MESSAGES, models=["m"], aspect="security")

    assert [f.line for f in result.findings] == [42]
    assert len(result.rejected) == 1 and "line" in result.rejected[0]
    assert result.repaired is False
    assert len(gateway.requests) == 1


def test_an_answer_with_no_valid_finding_is_repaired(gateway, harness):
    h = harness()
    gateway.script(json.dumps({"findings": [{**FINDING, "severity": "catastrophic"}]}), VALID)

    result = h.client.review(MESSAGES, models=["m"], aspect="security")

    assert result.repaired is True and len(result.findings) == 1
    assert "severity" in gateway.requests[1].messages[-1]["content"]


def test_rejected_json_schema_falls_back_to_json_object_and_is_remembered():
    with FakeGateway(json_schema_unsupported={"old-model"}) as gw:
        h = Harness(gw)
        gw.script(VALID, VALID)

        h.client.review(MESSAGES, models=["old-model"], aspect="security")
        h.client.review(MESSAGES, models=["old-model"], aspect="style")

        kinds = [(r.response_format or {}).get("type") for r in gw.requests]
        assert kinds == ["json_schema", "json_object", "json_object"]
        assert h.client.breaker.state("old-model") == "closed"
        assert h.sleeps == []
        h.client.close()


def test_json_object_mode_adds_the_word_json_only_when_the_prompt_lacks_it(gateway, harness):
    h = harness(structured="json_object")
    gateway.script(VALID, VALID)

    h.client.review([{"role": "user", "content": "review this"}], models=["m"], aspect="style")
    h.client.review(MESSAGES, models=["m"], aspect="style")

    first, second = gateway.requests
    assert first.response_format == {"type": "json_object"}
    assert "JSON" in first.messages[-1]["content"]
    assert second.messages == MESSAGES


# ------------------------------------------------------------------------------------------------
# Gateway headers, usage and cost


def test_gateway_headers_carry_metadata_token_and_cache_ttl(gateway, harness):
    h = harness(gateway_token=GATEWAY_TOKEN, cache_ttl=3600, skip_cache=True)
    metadata = {
        "team": "payments",
        "project": "group/" + "x" * 200,
        "mr": 42,
        "trigger": "push",
        "prompt_version": "a1b2c3",
        "extra": "dropped",
        "draft": True,
    }

    h.client.complete(MESSAGES, models=["m"], metadata=metadata)

    request = gateway.requests[0]
    sent = request.metadata
    assert list(sent) == ["team", "project", "mr", "trigger", "prompt_version"]
    assert sent["mr"] == 42 and len(sent["project"]) == 64
    assert request.header("cf-aig-authorization") == f"Bearer {GATEWAY_TOKEN}"
    assert request.header("authorization") == f"Bearer {API_KEY}"
    assert request.header("cf-aig-cache-ttl") == "3600"
    assert request.header("cf-aig-skip-cache") == "true"


def test_no_gateway_headers_when_nothing_is_configured(gateway, harness):
    h = harness()

    h.client.complete(MESSAGES, models=["m"])

    names = set(gateway.requests[0].headers)
    assert not {n for n in names if n.startswith("cf-aig-")}


def test_cloudflare_compat_path_and_response_headers():
    with FakeGateway.cloudflare(account="acc", gateway="gw") as gw:
        assert gw.base_url.endswith("/v1/acc/gw/compat")
        h = Harness(gw)
        gw.script(answer("cached", cache_status="HIT"))

        result = h.client.complete(MESSAGES, models=["openai/gpt-4o-mini"])

        assert gw.requests[0].path == "/v1/acc/gw/compat/chat/completions"
        assert result.cache_status == "HIT"
        assert result.log_id and len(result.log_id) == 32
        h.client.close()


def test_usage_and_cost_are_summed_over_retries_and_repairs_with_cached_tokens(gateway, harness):
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5)
    h = harness(prices={"m": price})
    gateway.script(
        error(500),
        answer("not json", prompt_tokens=1000, cached_tokens=400, completion_tokens=200),
        answer(VALID, prompt_tokens=1300, cached_tokens=1000, completion_tokens=100),
    )

    result = h.client.review(MESSAGES, models=["m"], aspect="security")

    first = (600 * 2.0 + 400 * 0.5 + 200 * 8.0) / 1e6
    second = (300 * 2.0 + 1000 * 0.5 + 100 * 8.0) / 1e6
    assert replace(result.usage, cost=0.0) == Usage(
        prompt_tokens=2300, cached_tokens=1400, completion_tokens=300, calls=2
    )
    assert result.usage.cost == pytest.approx(first + second)


def test_a_model_without_price_costs_nothing_and_is_flagged(gateway, harness, caplog):
    h = harness(prices={"priced": Price(1.0, 1.0)})
    gateway.script(answer("x", prompt_tokens=10, completion_tokens=5))

    with caplog.at_level(logging.WARNING, logger="reviewer.model.client"):
        result = h.client.complete(MESSAGES, models=["mystery"])

    assert result.usage.cost == 0.0
    assert result.usage.unpriced == frozenset({"mystery"})
    assert any("no price" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------------
# Circuit breaker


def test_breaker_opens_after_consecutive_failures_skips_the_model_then_half_opens(gateway, harness):
    h = harness(max_attempts=2, breaker_failures=2, breaker_cooldown=60)
    gateway.script(error(500), error(500), model="a")

    assert h.client.complete(MESSAGES, models=["a", "b"]).model == "b"  # two failures: open
    assert h.client.breaker.state("a") == "open"

    assert h.client.complete(MESSAGES, models=["a", "b"]).model == "b"
    assert models_asked(gateway) == ["a", "a", "b", "b"]  # a was skipped

    h.clock.now += 61
    gateway.script(answer("a is back"), model="a")
    assert h.client.complete(MESSAGES, models=["a", "b"]).text == "a is back"  # the probe
    assert h.client.breaker.state("a") == "closed"


def test_a_failed_probe_opens_the_breaker_again(gateway, harness):
    h = harness(max_attempts=1, breaker_failures=1, breaker_cooldown=10)
    gateway.script(error(503), error(503), model="a")

    h.client.complete(MESSAGES, models=["a", "b"])
    h.clock.now += 11
    h.client.complete(MESSAGES, models=["a", "b"])  # the probe fails

    assert h.client.breaker.state("a") == "open"
    assert models_asked(gateway) == ["a", "b", "a", "b"]


def test_only_open_breakers_left_raise_transient_error_with_the_cooldown(gateway, harness):
    h = harness(max_attempts=1, breaker_failures=1, breaker_cooldown=30)
    gateway.script(error(503), model="a")
    with pytest.raises(TransientError):
        h.client.complete(MESSAGES, models=["a"])

    h.clock.now += 10
    with pytest.raises(TransientError) as caught:
        h.client.complete(MESSAGES, models=["a"])

    assert caught.value.retry_after == pytest.approx(20)
    assert len(gateway.requests) == 1


# ------------------------------------------------------------------------------------------------
# Concurrency and secrets


def test_parallel_reviews_really_run_concurrently():
    calls, latency = 8, 0.3

    def respond(body: dict[str, Any]) -> str:
        path = body["messages"][-1]["content"]
        return json.dumps({"findings": [{**FINDING, "path": path}]})

    with FakeGateway(latency=latency, responder=respond) as gw:
        h = Harness(gw)
        with ThreadPoolExecutor(max_workers=calls) as pool:
            jobs = [
                pool.submit(
                    h.client.review,
                    [{"role": "user", "content": f"file{i}.py"}],
                    models=["m"],
                    aspect="style",
                )
                for i in range(calls)
            ]
            results = [job.result() for job in jobs]
        h.client.close()

    assert gw.max_in_flight == calls
    assert [r.findings[0].path for r in results] == [f"file{i}.py" for i in range(calls)]


def test_keys_never_reach_logs_or_error_messages(gateway, harness, caplog):
    h = harness(gateway_token=GATEWAY_TOKEN, max_attempts=2)
    echo = f"Incorrect API key provided: {API_KEY}; gateway token Bearer {GATEWAY_TOKEN}"
    gateway.script(rate_limited(retry_after=1), error(500), model="a")
    gateway.script(error(401, echo, type="invalid_request_error"), model="b")

    with caplog.at_level(logging.DEBUG), pytest.raises(TransientError) as caught:
        h.client.complete(MESSAGES, models=["a", "b"], metadata={"team": "t"})

    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "expected the calls to be logged"
    for secret in (API_KEY, GATEWAY_TOKEN):
        assert secret not in logged
        assert secret not in str(caught.value)
        assert secret not in repr(h.config)
    assert "b: 401" in str(caught.value)


# ------------------------------------------------------------------------------------------------
# The stand-in itself


def test_stand_in_answers_validate_strictly_against_the_sdk_model(gateway):
    gateway.script(answer("hello", prompt_tokens=12, completion_tokens=3, cached_tokens=5))
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        gateway.base_url + "/chat/completions", data=body, headers={"content-type": "application/json"}
    )

    with urllib.request.urlopen(request) as response:
        data = json.load(response)
        headers = response.headers

    completion = ChatCompletion.model_validate(data)
    assert completion.choices[0].message.content == "hello"
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 5
    assert headers["cf-aig-cache-status"] == "MISS" and headers["cf-aig-log-id"]
