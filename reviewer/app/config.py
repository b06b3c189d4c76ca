"""Settings from the environment (or a ``.env`` file), prefix ``REVIEWER_``.

This is the only module that reads the environment. Build ``Settings()`` once per process at the
edge (``reviewer.app.cli``, the worker start-up) and hand the values to the constructors that need them.
Tokens are ``SecretStr``: they print as ``**********``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reviewer.errors import ConfigError
from reviewer.model.usage import Price
from reviewer.review.findings import Severity

_PACKAGE = Path(__file__).resolve().parents[1]
# An installed wheel carries prompts/ as reviewer/_prompts; a checkout (or editable install) has it
# beside the package.
SHIPPED_PROMPTS = next(
    (p for p in (_PACKAGE / "_prompts", _PACKAGE.parent / "prompts") if (p / "system.j2").is_file()),
    _PACKAGE.parent / "prompts",
)

# US dollars per million tokens: (input, output, cached input), from the providers' price pages
# in 2026; REVIEWER_LLM_PRICES overrides or extends it. A model missing here is counted at 0.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "claude-3-5-haiku-latest": Price(0.80, 4.00, 0.08),
    "claude-sonnet-4-0": Price(3.00, 15.00, 0.30),
}
_PRICE_FIELDS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _price_rows(value: Any) -> Any:
    """REVIEWER_LLM_PRICES, ``{"model": [input, output, cached_input]}`` in JSON (cached input
    optional), as the fields of a Price each; pydantic then checks the numbers."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f'not JSON like {{"model": [input, output, cached_input]}}: {exc}') from None
    if not isinstance(value, Mapping):
        raise ValueError('must be an object like {"model": [input, output, cached_input]}')
    rows: dict[str, Any] = {}
    for model, row in value.items():
        if isinstance(row, list | tuple):
            if not 2 <= len(row) <= 3:
                raise ValueError(
                    f"{model}: [input, output] or [input, output, cached_input] per million tokens"
                )
            row = dict(zip(_PRICE_FIELDS, row, strict=False))
        rows[str(model)] = row
    return rows


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
    redis_url: str | None = None  # unset: the embedded Redis; also rediss:// and sentinel://
    state_dir: Path = Path.home() / ".cache" / "gitlab-ai-reviewer"

    # Reliability of reviews (docs/design.md, "Failure, by design"); all in seconds
    review_deadline: float = Field(default=900.0, gt=0)  # a review still running then is stopped
    lock_ttl: float = Field(default=30.0, gt=0)  # the MR lock's lifetime, renewed every third of it
    visibility_timeout: float = Field(default=60.0, gt=0)  # an unacknowledged review is redelivered
    retry_backoff: float = Field(default=15.0, gt=0)  # the first retry's delay, doubled each time
    max_retries: int = Field(default=6, ge=0)  # transient failures retried before the review fails
    sweep_interval: float = Field(default=600.0, ge=0)  # the catch-up sweep's period; 0 turns it off
    sweep_horizon: float = Field(default=7 * 86400.0, gt=0)  # projects reviewed this recently are swept
    sweep_pause: float = Field(default=0.5, ge=0)  # between two GitLab listings of one sweep

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
    llm_backoff: float = Field(default=1.0, gt=0)  # seconds before a model call's second attempt, doubling
    llm_structured: Literal["auto", "json_schema", "json_object"] = "auto"
    llm_max_tokens: int | None = Field(default=None, gt=0)  # the answer's limit: set it for local servers
    # the built-in table with REVIEWER_LLM_PRICES on top, per million tokens
    llm_prices: Annotated[dict[str, Price], NoDecode] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    llm_concurrency: int = 16
    aig_token: SecretStr | None = None  # Cloudflare AI Gateway: cf-aig-authorization
    aig_cache_ttl: int | None = None

    # Service catalog
    backstage_url: str | None = None
    backstage_token: SecretStr | None = None

    # Prompts and review policy
    prompts_dir: Path = SHIPPED_PROMPTS
    min_severity: Severity = Severity.LOW
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

    # Review depth: each hunk's enclosing function and class (read at the head), the second look
    enclosing_context: bool = True
    enclosing_function_tokens: int = Field(default=400, ge=0)  # a function this short comes whole
    verify: bool = True  # the second look: one batched call checks the findings before they are posted
    verify_min_severity: Severity = Severity.INFO  # findings below it are posted unchecked
    llm_verify_model: str | None = None  # the second look's model; default the lite model

    # People in the loop: commands in notes, answers in the bot's threads
    # a reply holding one of these dismisses the finding of its thread (teams add theirs: dismiss_words)
    dismiss_words: CommaList = ("false positive", "won't fix", "wont fix", "not an issue", "not a bug")
    command_limit: int = Field(default=10, ge=1)  # accepted /ai-review commands per MR per hour
    answer_limit_thread: int = Field(default=3, ge=0)  # answers in one thread per day
    answer_limit_mr: int = Field(default=10, ge=0)  # answers in the threads of one MR per day
    answer_max_tokens: int = Field(default=400, ge=50, le=4000)  # the length of one answer

    # Intake
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"

    # Metrics: every process of a host counts into one directory (prometheus_client's multiprocess
    # mode; default state_dir/metrics); a `reviewer worker` with metrics_port serves them there
    metrics_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("REVIEWER_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR")
    )
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # `reviewer mcp` over HTTP: the bearer token its clients send (required to bind beyond loopback)
    mcp_token: SecretStr | None = None
    # The intake's pages at /ui (reviewer.app.access): off beyond loopback unless this is set
    ui_token: SecretStr | None = None

    _split = field_validator(
        "llm_fallback_models", "noise_globs", "keep_globs", "sensitive_globs", "dismiss_words", mode="before"
    )(_split_commas)

    @field_validator("llm_prices", mode="before")
    @classmethod
    def _parse_prices(cls, value: Any) -> Any:
        return _price_rows(value)

    @field_validator("llm_prices", mode="after")
    @classmethod
    def _on_the_built_in_prices(cls, value: dict[str, Price]) -> dict[str, Price]:
        return DEFAULT_PRICES | value

    @field_validator("min_severity", "verify_min_severity", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("visibility_timeout")
    @classmethod
    def _outlasts_the_lock(cls, value: float, info: ValidationInfo) -> float:
        # A dead worker's review is redelivered after the visibility timeout; by then its lock
        # must have expired, or the redelivered review only waits.
        lock_ttl = info.data.get("lock_ttl")
        if lock_ttl is not None and value <= lock_ttl:
            raise ValueError(f"must exceed REVIEWER_LOCK_TTL ({lock_ttl:g} s)")
        return value

    @property
    def max_countdown(self) -> float:
        """The longest a retry may be delayed: a worker holds a delayed message unacknowledged, and
        Redis would redeliver it to another worker after the visibility timeout."""
        return self.visibility_timeout * 0.75

    @field_validator(
        "gitlab_url",
        "llm_base_url",
        "backstage_url",
        "redis_url",
        "llm_max_tokens",
        "llm_verify_model",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        if self.webhook_secret is None:
            return ()
        return tuple(s.strip() for s in self.webhook_secret.get_secret_value().split(",") if s.strip())

    def secret_values(self) -> tuple[str, ...]:
        """Every secret configured (tokens, keys, webhook secrets, the Redis password): what no
        log line, error message or note may hold."""
        values = [*self.webhook_secrets]
        for secret in (
            self.gitlab_token,
            self.llm_api_key,
            self.aig_token,
            self.backstage_token,
            self.mcp_token,
            self.ui_token,
        ):
            if secret is not None:
                values.append(secret.get_secret_value())
        if self.redis_url:
            password = urlsplit(self.redis_url).password
            if password:
                values += [password, unquote(password)]  # as written, and as meant
        return tuple(v for v in values if v)

    @property
    def gitlab_configured(self) -> bool:
        return bool(self.gitlab_url and self.gitlab_token)

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url)


def load_settings() -> Settings:
    """Settings from the environment; an invalid value is a ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


# What the webhook intake itself reads; the rest configures reviews, done by workers.
INTAKE_FIELDS = frozenset(
    {
        "webhook_secret",
        "redis_url",
        "state_dir",
        "host",
        "port",
        "log_level",
        "metrics_dir",
        "metrics_port",
        "ui_token",
    }
)


def load_intake_settings() -> tuple[Settings, str | None]:
    """Settings for a process that runs the webhook intake. A setting only reviews use that is
    invalid (a model, a price, a threshold) must not stop the intake from taking deliveries: it is
    left at its default here and the problem is returned, for the worker and ``doctor`` to report."""
    try:
        return Settings(), None
    except ValidationError as exc:
        broken = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        if not broken or broken & INTAKE_FIELDS:
            raise ConfigError(_describe(exc)) from None
        fields = Settings.model_fields
        defaults = {name: fields[name].get_default(call_default_factory=True) for name in broken}
        try:
            return Settings(**defaults), _describe(exc)
        except ValidationError as again:
            raise ConfigError(_describe(again)) from None


def _describe(exc: ValidationError) -> str:
    problems = "; ".join(_problem(error["loc"], error["msg"]) for error in exc.errors())
    return f"invalid configuration: {problems}"


def _problem(loc: tuple[int | str, ...], message: str) -> str:
    """``REVIEWER_LLM_PRICES: gpt-x.output_per_mtok: Input should be a valid number``."""
    variable, *inside = loc
    where = ".".join(str(part) for part in inside)
    return f"REVIEWER_{str(variable).upper()}: {where + ': ' if where else ''}{message}"


def export_variable(name: str, value: str | None) -> None:
    """Set (None: remove) a variable of this process's environment, which its child processes
    inherit. For libraries that take a setting only from the environment: prometheus_client finds
    its multiprocess directory only in PROMETHEUS_MULTIPROC_DIR."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
