"""Settings: names, defaults, and a clear error for a bad value."""

from __future__ import annotations

import pytest

from reviewer.app.config import DEFAULT_PRICES, Settings, load_settings
from reviewer.errors import ConfigError
from reviewer.model.usage import Price
from reviewer.review.findings import Severity


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
    settings = Settings(gitlab_token="glpat-secret", _env_file=None)
    assert "glpat-secret" not in repr(settings) and "glpat-secret" not in str(settings)


def test_prices_extend_the_built_in_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWER_LLM_PRICES", '{"my-model": [1, 2], "gpt-4o": [3, 4, 0.5]}')
    table = load_settings().llm_prices
    assert table["my-model"] == Price(1.0, 2.0, None) and table["gpt-4o"] == Price(3.0, 4.0, 0.5)
    assert table["gpt-4o-mini"] == DEFAULT_PRICES["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be an object"),
        ('{"m": [1]}', "[input, output]"),
        ('{"m": [1, "lots"]}', "m.output_per_mtok"),
    ],
)
def test_a_bad_price_table_is_refused_at_load_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("REVIEWER_LLM_PRICES", value)
    with pytest.raises(ConfigError, match="REVIEWER_LLM_PRICES") as raised:
        load_settings()
    assert says in str(raised.value)


def test_the_minimum_severity_is_a_severity_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().min_severity is Severity.LOW
    monkeypatch.setenv("REVIEWER_MIN_SEVERITY", " High ")
    assert load_settings().min_severity is Severity.HIGH
    monkeypatch.setenv("REVIEWER_MIN_SEVERITY", "huge")
    with pytest.raises(ConfigError, match=r"REVIEWER_MIN_SEVERITY: .*'critical', 'high'"):
        load_settings()


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "REVIEWER_GITLAB_URL=https://gitlab.example.com\nREVIEWER_GITLAB_TOKEN=t\n"
    )
    monkeypatch.chdir(tmp_path)
    assert load_settings().gitlab_configured


def test_secret_values_are_every_configured_secret() -> None:
    settings = Settings(
        gitlab_token="glpat-a1",
        webhook_secret="old-hook, new-hook",
        llm_api_key="sk-b2",
        aig_token="aig-c3",
        backstage_token="bst-d4",
        mcp_token="mcp-e5",
        ui_token="ui-f6",
        redis_url="redis://:p%40ss@redis:6379/0",
        _env_file=None,
    )
    assert set(settings.secret_values()) == {
        "glpat-a1", "old-hook", "new-hook", "sk-b2", "aig-c3", "bst-d4", "mcp-e5", "ui-f6", "p@ss", "p%40ss",
    }  # fmt: skip
    assert Settings(_env_file=None).secret_values() == ()


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
