"""reviewer.model.usage: prices and the usage of model calls."""

from __future__ import annotations

import pytest

from reviewer.model.usage import Price, Usage


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
