"""Where Settings become services: the one place that turns configuration into objects.

Called once per process at its edge (the CLI, the worker start-up); everything else receives the
objects built here.
"""

from __future__ import annotations

from dataclasses import dataclass

from reviewer.app.config import Settings
from reviewer.catalog import BackstageCatalog, ServiceCatalog
from reviewer.errors import ConfigError
from reviewer.gitlab.client import GitLabClient
from reviewer.model.client import GatewayConfig, LLMClient
from reviewer.review.engine import Engine, ModelChoice
from reviewer.review.findings import Thresholds
from reviewer.review.planning import PlanConfig
from reviewer.review.prompts import PromptStore
from reviewer.review.tokens import default_counter


@dataclass
class Services:
    engine: Engine
    gitlab: GitLabClient | None
    catalog: ServiceCatalog


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(settings.min_severity, settings.min_confidence, settings.max_comments)


def build_llm(settings: Settings) -> LLMClient | None:
    if not settings.llm_base_url:
        return None
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "unused"
    config = GatewayConfig(
        base_url=settings.llm_base_url,
        api_key=api_key,
        timeout=settings.llm_timeout,
        max_attempts=settings.llm_max_attempts,
        backoff_initial=settings.llm_backoff,
        gateway_token=settings.aig_token.get_secret_value() if settings.aig_token else None,
        cache_ttl=settings.aig_cache_ttl,
        structured=settings.llm_structured,
        max_tokens=settings.llm_max_tokens,
        prices=settings.llm_prices,
    )
    return LLMClient(config)


def build_gitlab(settings: Settings) -> GitLabClient | None:
    if not settings.gitlab_url:
        return None
    if settings.gitlab_token is None:
        raise ConfigError("REVIEWER_GITLAB_URL is set but REVIEWER_GITLAB_TOKEN is not")
    return GitLabClient(
        settings.gitlab_url, settings.gitlab_token.get_secret_value(), timeout=settings.gitlab_timeout
    )


def build_engine(settings: Settings, *, llm: LLMClient | None = None) -> Engine:
    models = ModelChoice(
        default=settings.llm_model,
        lite=settings.llm_lite_model,
        per_aspect={
            aspect: model
            for aspect, model in (
                ("security", settings.llm_security_model),
                ("style", settings.llm_style_model),
            )
            if model
        },
        fallbacks=settings.llm_fallback_models,
    )
    plan_config = PlanConfig(
        chunk_tokens=settings.chunk_tokens,
        max_chunks=settings.max_chunks or None,
        noise_globs=(*PlanConfig().noise_globs, *settings.noise_globs),
        keep_globs=(*PlanConfig().keep_globs, *settings.keep_globs),
        sensitive_globs=(*PlanConfig().sensitive_globs, *settings.sensitive_globs),
    )
    return Engine(
        prompts=PromptStore(settings.prompts_dir, defaults=thresholds(settings)),
        llm=llm if llm is not None else build_llm(settings),
        models=models,
        plan_config=plan_config,
        counter=default_counter(cache_dir=settings.tokenizer_cache),
        concurrency=settings.llm_concurrency,
    )


def build_catalog(settings: Settings) -> ServiceCatalog:
    if not settings.backstage_url:
        return ServiceCatalog()
    token = settings.backstage_token.get_secret_value() if settings.backstage_token else None
    return ServiceCatalog(BackstageCatalog(settings.backstage_url, token))


def build_services(settings: Settings) -> Services:
    return Services(
        engine=build_engine(settings), gitlab=build_gitlab(settings), catalog=build_catalog(settings)
    )
