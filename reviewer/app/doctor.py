"""``reviewer doctor``: each setting and each connection checked, with what to do when wrong."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import redis

from reviewer.app.config import Settings
from reviewer.app.services import build_gitlab, build_llm, thresholds
from reviewer.app.state import connect
from reviewer.errors import ReviewerError
from reviewer.review.prompts import PromptStore


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def run_checks(settings: Settings) -> list[Check]:
    return [
        _prompts(settings),
        _policy(settings),
        _redis(settings),
        _webhook_secret(settings),
        _gitlab(settings),
        _gateway(settings),
        _backstage(settings),
    ]


def _prompts(settings: Settings) -> Check:
    try:
        store = PromptStore(settings.prompts_dir)
        store.render("security", store.policy(None), diff="", title="doctor")
    except ReviewerError as exc:
        return Check("prompts", False, str(exc))
    return Check("prompts", True, f"templates in {settings.prompts_dir} render")


def _policy(settings: Settings) -> Check:
    try:
        t = thresholds(settings)
    except ReviewerError as exc:
        return Check("review policy", False, str(exc))
    return Check(
        "review policy",
        True,
        f"min severity {t.min_severity.value}, min confidence {t.min_confidence}, "
        f"at most {t.max_comments} comments",
    )


def _redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check(
            "redis", True, "embedded (REVIEWER_REDIS_URL unset): `reviewer serve` runs its own", False
        )
    try:
        connect(settings.redis_url).ping()
    except (redis.RedisError, ValueError) as exc:
        return Check("redis", False, f"cannot reach REVIEWER_REDIS_URL: {type(exc).__name__}: {exc}")
    return Check("redis", True, "reachable")


def _webhook_secret(settings: Settings) -> Check:
    if not settings.webhook_secrets:
        return Check("webhook secret", False, "REVIEWER_WEBHOOK_SECRET is not set: every delivery is refused")
    return Check("webhook secret", True, f"{len(settings.webhook_secrets)} secret(s) accepted")


def _gitlab(settings: Settings) -> Check:
    try:
        client = build_gitlab(settings)
        if client is None:
            return Check("gitlab", False, "set REVIEWER_GITLAB_URL and REVIEWER_GITLAB_TOKEN")
        user_id = client.bot_user_id()
    except ReviewerError as exc:
        return Check("gitlab", False, str(exc))
    return Check("gitlab", True, f"{settings.gitlab_url} answers; the token belongs to user {user_id}")


def _gateway(settings: Settings) -> Check:
    try:
        client = build_llm(settings)
        if client is None:
            return Check("model gateway", False, "not set: only deterministic checks run", required=False)
        completion = client.complete(
            [{"role": "user", "content": 'Answer with {"findings": []}'}], models=[settings.llm_model]
        )
    except ReviewerError as exc:
        return Check("model gateway", False, str(exc))
    return Check(
        "model gateway", True, f"{completion.model} answered ({completion.usage.prompt_tokens} tokens)"
    )


def _backstage(settings: Settings) -> Check:
    if not settings.backstage_url:
        return Check("backstage", True, "not set (optional)", required=False)
    headers = {}
    if settings.backstage_token:
        headers["Authorization"] = f"Bearer {settings.backstage_token.get_secret_value()}"
    try:
        response = httpx.get(
            f"{settings.backstage_url.rstrip('/')}/api/catalog/entities/by-query",
            params={"limit": 1},
            headers=headers,
            timeout=5,
        )
    except httpx.HTTPError as exc:
        return Check("backstage", False, f"cannot reach REVIEWER_BACKSTAGE_URL: {type(exc).__name__}")
    if response.status_code >= 400:
        return Check("backstage", False, f"answered {response.status_code} (check REVIEWER_BACKSTAGE_TOKEN)")
    return Check("backstage", True, "catalog answers")
