"""Settings: names, defaults, and a clear error for a bad value."""

from __future__ import annotations

import pytest

from reviewer.app.config import DEFAULT_PRICES, Settings, load_settings
from reviewer.errors import ConfigError


def test_defaults_need_nothing_configured() -> None:
    settings = load_settings()
    assert settings.redis_url is None and not settings.gitlab_configured and not settings.llm_configured
    assert settings.webhook_secrets == ()


def test_comma_separated_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWER_WEBHOOK_SECRET", "new, old")
    monkeypatch.setenv("REVIEWER_LLM_FALLBACK_MODELS", "openai/gpt-4o, anthropic/claude-sonnet-4-0")
    settings = load_settings()
    assert settings.webhook_secrets == ("new", "old")
    assert settings.llm_fallback_models == ("openai/gpt-4o", "anthropic/claude-sonnet-4-0")


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWER_MAX_COMMENTS", "many")
    with pytest.raises(ConfigError, match="REVIEWER_MAX_COMMENTS"):
        load_settings()


def test_tokens_print_masked() -> None:
    settings = Settings(gitlab_token="glpat-secret", _env_file=None)  # type: ignore[call-arg]
    assert "glpat-secret" not in repr(settings) and "glpat-secret" not in str(settings)


def test_prices_extend_the_built_in_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWER_LLM_PRICES", '{"my-model": [1, 2]}')
    table = load_settings().price_table()
    assert table["my-model"] == (1.0, 2.0, None) and table["gpt-4o-mini"] == DEFAULT_PRICES["gpt-4o-mini"]
    monkeypatch.setenv("REVIEWER_LLM_PRICES", "not json")
    with pytest.raises(ConfigError, match="REVIEWER_LLM_PRICES"):
        load_settings().price_table()


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "REVIEWER_GITLAB_URL=https://gitlab.example.com\nREVIEWER_GITLAB_TOKEN=t\n"
    )
    monkeypatch.chdir(tmp_path)
    assert load_settings().gitlab_configured


@pytest.mark.parametrize(("value", "expected"), [("", None), ("768", 768)])
def test_the_answer_limit_is_unset_when_blank(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None
) -> None:
    monkeypatch.setenv("REVIEWER_LLM_MAX_TOKENS", value)
    assert load_settings().llm_max_tokens == expected


def test_an_answer_limit_of_zero_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWER_LLM_MAX_TOKENS", "0")
    with pytest.raises(ConfigError, match="REVIEWER_LLM_MAX_TOKENS"):
        load_settings()
