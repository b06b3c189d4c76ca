"""reviewer.model.client against the gateway stand-in behaving as the self-hosted OpenAI-compatible
servers do (llama.cpp's llama-server, vLLM, Ollama): answer limits and answers cut off there,
context-length refusals in each server's words, missing usage, JSON schema refused or ignored."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway, answer, context_exceeded, error

from reviewer.errors import GatewayRejected, PromptTooLong
from reviewer.model.client import AnswerCutOff, AnswerInvalid, GatewayConfig, LLMClient

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
VALID = json.dumps({"findings": [FINDING]})  # about 60 tokens at 4 characters a token


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        yield gw


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client_for(sleeps: list[float]) -> Iterator[Any]:
    made: list[LLMClient] = []

    def make(gw: FakeGateway, **config: Any) -> LLMClient:
        settings = {"api_key": "unused", "timeout": 5.0, "max_attempts": 3, **config}
        made.append(LLMClient(GatewayConfig(base_url=gw.base_url, **settings), sleep=sleeps.append))
        return made[-1]

    yield make
    for client in made:
        client.close()


# ------------------------------------------------------------------------------------------------
# The answer's limit, and answers cut off there


def test_max_tokens_is_sent_only_when_configured(gateway, client_for):
    client_for(gateway, max_tokens=512).complete(MESSAGES, models=["m"])
    client_for(gateway).complete(MESSAGES, models=["m"])

    limited, unlimited = gateway.requests
    assert limited.body["max_tokens"] == 512 and "max_completion_tokens" not in limited.body
    assert "max_tokens" not in unlimited.body


def test_an_answer_cut_off_at_max_tokens_raises_answer_cut_off_without_a_repair(gateway, client_for):
    client = client_for(gateway, max_tokens=20)
    gateway.script(answer(VALID, prompt_tokens=300))  # the stand-in cuts it at 20 tokens

    with pytest.raises(AnswerCutOff) as caught:
        client.review(MESSAGES, models=["m"], aspect="security")

    assert isinstance(caught.value, AnswerInvalid)  # callers that know only AnswerInvalid still cope
    assert "cut off" in str(caught.value) and caught.value.model == "m"
    assert caught.value.usage.calls == 1 and caught.value.usage.prompt_tokens == 300
    assert len(gateway.requests) == 1  # a repair would be cut off the same way


def test_a_repair_answer_cut_off_raises_answer_cut_off_counting_both_calls(gateway, client_for):
    client = client_for(gateway)
    gateway.script(
        answer("I think the code is fine.", prompt_tokens=100),
        answer('{"findings": [{"path": "app/db.py", "li', prompt_tokens=150, finish_reason="length"),
    )

    with pytest.raises(AnswerCutOff) as caught:
        client.review(MESSAGES, models=["m"], aspect="security")

    assert caught.value.usage.calls == 2 and caught.value.usage.prompt_tokens == 250


def test_an_answer_at_its_limit_that_is_whole_is_used(gateway, client_for):
    client = client_for(gateway)
    gateway.script(answer(VALID, finish_reason="length"))

    result = client.review(MESSAGES, models=["m"], aspect="security")

    assert [f.line for f in result.findings] == [42] and result.repaired is False


# ------------------------------------------------------------------------------------------------
# Prompts over the model's context window


@pytest.mark.parametrize("server", ["llama.cpp", "vllm", "vllm-legacy", "ollama", "openai"])
def test_each_servers_context_refusal_is_prompt_too_long_and_not_retried(server, client_for, sleeps):
    with FakeGateway(context_window=10, server=server) as gw:
        client = client_for(gw)

        with pytest.raises(PromptTooLong) as caught:
            client.review(MESSAGES, models=["m", "m-fallback"], aspect="security")

        assert isinstance(caught.value, GatewayRejected) and caught.value.status == 400
        assert [r.model for r in gw.requests] == ["m", "m-fallback"]  # each once, no retry
        assert sleeps == []
        assert client.breaker.state("m") == "closed"  # the server is fine, the prompt is not


def test_the_context_window_counts_the_answers_limit_too(client_for):
    with FakeGateway(context_window=200, server="vllm") as gw:
        client_for(gw, max_tokens=100).complete(MESSAGES, models=["m"])
        with pytest.raises(PromptTooLong):
            client_for(gw, max_tokens=190).complete(MESSAGES, models=["m"])


def test_a_fallback_model_with_a_larger_context_answers(gateway, client_for):
    client = client_for(gateway)
    gateway.script(context_exceeded("llama.cpp"), model="small")
    gateway.script(VALID, model="large")

    result = client.review(MESSAGES, models=["small", "large"], aspect="security")

    assert result.model == "large" and len(result.findings) == 1


def test_a_body_too_large_for_a_proxy_is_prompt_too_long(gateway, client_for):
    gateway.script(error(413, "Request Entity Too Large", type="invalid_request_error"))

    with pytest.raises(PromptTooLong):
        client_for(gateway).complete(MESSAGES, models=["m"])


def test_another_refusal_stays_gateway_rejected(gateway, client_for):
    gateway.script(error(400, "temperature must be between 0 and 2", type="invalid_request_error"))

    with pytest.raises(GatewayRejected) as caught:
        client_for(gateway).complete(MESSAGES, models=["m"])

    assert not isinstance(caught.value, PromptTooLong)


# ------------------------------------------------------------------------------------------------
# Usage


@pytest.mark.parametrize("usage", ["absent", "null"])
def test_an_answer_without_usage_counts_the_call_at_zero_tokens_and_says_so_once(
    usage, gateway, client_for, caplog
):
    client = client_for(gateway)
    gateway.script(answer(VALID, usage=usage), answer(VALID, usage=usage))

    with caplog.at_level(logging.WARNING, logger="reviewer.model.client"):
        first = client.review(MESSAGES, models=[f"quiet-{usage}"], aspect="security")
        second = client.review(MESSAGES, models=[f"quiet-{usage}"], aspect="security")

    assert len(first.findings) == len(second.findings) == 1
    assert (first.usage.calls, first.usage.prompt_tokens, first.usage.completion_tokens) == (1, 0, 0)
    assert sum("reports no token usage" in r.getMessage() for r in caplog.records) == 1


def test_usage_without_cached_token_details_as_ollama_sends_it(gateway, client_for):
    def ollama_like(request: dict[str, Any]) -> Any:
        return answer(VALID, prompt_tokens=120, completion_tokens=40)

    gateway.responder = ollama_like
    result = client_for(gateway).review(MESSAGES, models=["m"], aspect="security")

    assert (result.usage.prompt_tokens, result.usage.cached_tokens, result.usage.completion_tokens) == (
        120,
        0,
        40,
    )


# ------------------------------------------------------------------------------------------------
# Structured output refused or ignored


def test_an_older_llama_server_refusing_json_schema_gets_json_object(client_for):
    with FakeGateway(json_schema_unsupported={"m"}, server="llama.cpp") as gw:
        gw.script(VALID)
        result = client_for(gw).review(MESSAGES, models=["m"], aspect="security")

        assert [(r.response_format or {}).get("type") for r in gw.requests] == ["json_schema", "json_object"]
        assert len(result.findings) == 1


def test_a_server_ignoring_json_schema_answers_fenced_json_that_is_read(gateway, client_for):
    gateway.script(f"```json\n{VALID}\n```")

    result = client_for(gateway).review(MESSAGES, models=["m"], aspect="security")

    assert len(result.findings) == 1 and result.repaired is False


def test_a_server_ignoring_json_schema_answers_prose_and_gets_one_repair(gateway, client_for):
    gateway.script("The query on line 42 is built with an f-string; use parameters.", VALID)

    result = client_for(gateway).review(MESSAGES, models=["m"], aspect="security")

    assert result.repaired is True and len(result.findings) == 1
    assert "JSON" in gateway.requests[1].messages[-1]["content"]
