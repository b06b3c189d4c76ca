"""reviewer.model.failures: what a failed attempt says about when to try again."""

from __future__ import annotations

import email.utils
import time

import pytest

from reviewer.model.failures import retry_after_seconds


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
