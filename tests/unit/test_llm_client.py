"""reviewer.model.client without a gateway: configuration (the calls themselves are tested over
HTTP in tests/integration/test_llm_gateway.py)."""

from __future__ import annotations

import pytest

from reviewer.errors import ConfigError
from reviewer.model.client import GatewayConfig, LLMClient


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
