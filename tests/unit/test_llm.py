"""reviewer.model.client's pure parts: metadata header, prices, usage, the circuit breaker, configuration."""

from __future__ import annotations

import email.utils
import json
import threading
import time

import pytest

from reviewer.errors import ConfigError
from reviewer.model.aig import METADATA_MAX_CHARS, metadata_header
from reviewer.model.breaker import CircuitBreaker
from reviewer.model.client import GatewayConfig, LLMClient
from reviewer.model.failures import retry_after_seconds
from reviewer.model.usage import Price, Usage


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# metadata ----------------------------------------------------------------------------------------


def test_metadata_header_is_a_compact_flat_json_object():
    header = metadata_header({"team": "payments", "mr": 42, "draft": False, "score": 0.5})

    assert header == '{"team":"payments","mr":42,"draft":false,"score":0.5}'


def test_metadata_header_keeps_the_first_five_entries_and_skips_none():
    metadata = {"a": 1, "skip": None, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}

    assert list(json.loads(metadata_header(metadata) or "{}")) == ["a", "b", "c", "d", "e"]


def test_metadata_header_cuts_long_strings_and_stringifies_the_rest():
    header = metadata_header({"project": "g/" + "x" * 500, "nan": float("nan"), "obj": ["list"]})  # type: ignore[dict-item]

    sent = json.loads(header or "{}")
    assert len(sent["project"]) == METADATA_MAX_CHARS
    assert sent["nan"] == "nan" and sent["obj"] == "['list']"


def test_metadata_header_is_ascii_even_for_non_ascii_values():
    header = metadata_header({"team": "équipe\nnouvelle"})

    assert header is not None and header.isascii() and "\n" not in header
    assert json.loads(header) == {"team": "équipe\nnouvelle"}


def test_metadata_header_of_nothing_is_none():
    assert metadata_header({"a": None}) is None


# prices and usage -------------------------------------------------------------------------------


def test_cached_tokens_are_priced_at_the_cached_rate():
    price = Price(input_per_mtok=3.0, output_per_mtok=15.0, cached_input_per_mtok=0.3)

    assert price.cost(1_000_000, 400_000, 100_000) == pytest.approx(0.6 * 3 + 0.4 * 0.3 + 0.1 * 15)


def test_cached_tokens_cost_the_input_rate_when_no_cached_rate_is_set():
    assert Price(2.0, 4.0).cost(1000, 1000, 0) == pytest.approx(0.002)


def test_usages_add_up_and_sum_from_zero():
    a = Usage(100, 10, 20, 0.5, 1, frozenset({"x"}))
    b = Usage(50, 0, 5, 0.25, 1)

    assert a + b == Usage(150, 10, 25, 0.75, 2, frozenset({"x"}))
    assert sum([a, b]) == a + b
    assert (a + b).total_tokens == 175


# circuit breaker --------------------------------------------------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures():
    breaker = CircuitBreaker(3, 60, clock=FakeClock())
    for _ in range(2):
        breaker.failure("m")
    assert breaker.allow("m")

    breaker.failure("m")

    assert not breaker.allow("m") and breaker.state("m") == "open"


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker(2, 60, clock=FakeClock())
    breaker.failure("m")
    breaker.success("m")
    breaker.failure("m")

    assert breaker.state("m") == "closed"


def test_half_open_lets_exactly_one_probe_through():
    clock = FakeClock()
    breaker = CircuitBreaker(1, 60, clock=clock)
    breaker.failure("m")
    clock.now = 59
    assert not breaker.allow("m") and breaker.retry_in("m") == pytest.approx(1)

    clock.now = 60
    assert breaker.allow("m")
    assert not breaker.allow("m")  # a second caller while the probe is out
    breaker.success("m")
    assert breaker.allow("m") and breaker.state("m") == "closed"


def test_a_failed_probe_restarts_the_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(1, 60, clock=clock)
    breaker.failure("m")
    clock.now = 61
    assert breaker.allow("m")

    breaker.failure("m")

    assert breaker.state("m") == "open" and breaker.retry_in("m") == pytest.approx(60)


def test_breakers_are_per_model():
    breaker = CircuitBreaker(1, 60, clock=FakeClock())
    breaker.failure("a")

    assert not breaker.allow("a") and breaker.allow("b")


def test_breaker_counts_failures_from_many_threads():
    breaker = CircuitBreaker(1000, 60, clock=FakeClock())

    def fail_100_times() -> None:
        for _ in range(100):
            breaker.failure("m")

    threads = [threading.Thread(target=fail_100_times) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert breaker.state("m") == "open"


# retry-after ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_values(headers, expected):
    assert retry_after_seconds(headers) == expected


def test_retry_after_as_an_http_date():
    date = email.utils.formatdate(time.time() + 30, usegmt=True)

    assert retry_after_seconds({"retry-after": date}) == pytest.approx(30, abs=2)


# configuration ----------------------------------------------------------------------------------


def test_config_repr_hides_the_key_and_the_gateway_token():
    config = GatewayConfig(base_url="http://gw/v1", api_key="sk-secret-123", gateway_token="cf-secret-456")

    assert "sk-secret-123" not in repr(config) and "cf-secret-456" not in repr(config)


def test_an_empty_api_key_is_a_config_error():
    with pytest.raises(ConfigError):
        LLMClient(GatewayConfig(base_url="http://gw/v1", api_key=""))


def test_complete_needs_a_model():
    client = LLMClient(GatewayConfig(base_url="http://127.0.0.1:9/v1", api_key="k"))
    with client, pytest.raises(ValueError):
        client.complete([{"role": "user", "content": "hi"}], models=[])
