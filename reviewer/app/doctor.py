"""``reviewer doctor``: each setting and each connection checked, with what to do when wrong; the
team files and (``--repo-config``) a repository's ``.ai-review.yaml`` are applied as a review
would, and every key that would not apply is named.

The GitLab check also holds the token to least privilege (README, "Least privilege"): it warns
when the token belongs to an administrator (``GET /user`` shows ``is_admin`` to administrators
only) or carries scopes beyond ``api`` (``GET /personal_access_tokens/self``), and fails when it
lacks ``api``, without which the bot can read but not comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from reviewer.app.config import Settings
from reviewer.app.services import build_gitlab, build_llm, thresholds
from reviewer.app.state import connect
from reviewer.errors import ReviewerError
from reviewer.review.prompts import PromptStore, parse_overrides
from reviewer.review.repository import REPO_CONFIG_FILE

NEEDED_SCOPES = frozenset({"api"})


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True
    warning: bool = False  # it works, but should not be so

    @property
    def label(self) -> str:
        if not self.ok:
            return "FAIL" if self.required else "skip"
        return "WARN" if self.warning else "ok"


def run_checks(settings: Settings, *, repo_config: Path | None = None) -> list[Check]:
    """Every check; with ``repo_config``, a repository's ``.ai-review.yaml`` too."""
    checks = [
        _prompts(settings),
        _policy(settings),
        _team_settings(settings),
        _redis(settings),
        _webhook_secret(settings),
        _gitlab(settings),
        _gateway(settings),
        _backstage(settings),
    ]
    if repo_config is not None:
        checks.append(_repo_config(settings, repo_config))
    return checks


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


def _team_settings(settings: Settings) -> Check:
    """Every team file applies key by key; a key that does not (unknown, or a bad value) is named."""
    try:
        store = PromptStore(settings.prompts_dir)
    except ReviewerError as exc:
        return Check("team settings", False, str(exc))
    teams = sorted(p.stem for p in (settings.prompts_dir / "teams").glob("*.yaml"))
    problems = [str(problem) for team in teams for problem in store.policy(team).problems]
    if problems:
        return Check("team settings", True, "not applied: " + "; ".join(problems), warning=True)
    return Check("team settings", True, f"{len(teams)} team file(s) apply in full")


def _repo_config(settings: Settings, path: Path) -> Check:
    """A repository's ``.ai-review.yaml``, as a review would apply it on the defaults."""
    name = f"repository settings ({path.name})"
    try:
        raw = parse_overrides(path.read_text(encoding="utf-8"), source=REPO_CONFIG_FILE)
        policy = PromptStore(settings.prompts_dir).policy(None, raw)
    except OSError as exc:
        return Check(name, False, f"cannot read {path}: {exc.strerror or exc}")
    except ReviewerError as exc:  # not YAML, or not a mapping: a review ignores the whole file
        return Check(name, True, f"{exc}; a review ignores the file", warning=True)
    if policy.problems:
        return Check(name, True, "not applied: " + "; ".join(map(str, policy.problems)), warning=True)
    return Check(name, True, f"applies in full ({', '.join(sorted(raw)) or 'no settings'})")


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
        facts = client.token_facts()
    except ReviewerError as exc:
        return Check("gitlab", False, str(exc))
    who = f"{settings.gitlab_url} answers; the token is {facts.username or 'user'} ({facts.user_id})'s"
    if facts.scopes is not None and not set(facts.scopes) >= NEEDED_SCOPES:
        return Check("gitlab", False, f"{who}, but lacks the api scope: the bot could read, not comment")
    problems = []
    if facts.is_admin:
        problems.append("it is an administrator's: use a bot user, or a project or group access token")
    extra = sorted(set(facts.scopes or ()) - NEEDED_SCOPES)
    if extra:
        problems.append(f"it has scopes the bot does not need: {', '.join(extra)} (api is enough)")
    if facts.scopes is None:
        problems.append("its scopes could not be read (not a personal, project or group access token)")
    if problems:
        return Check("gitlab", True, f"{who}; but {'; '.join(problems)}", warning=True)
    return Check("gitlab", True, f"{who}; scope api only, not an administrator")


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
