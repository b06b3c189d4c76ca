"""The intake's pages for platform teams, at ``/ui``: server-rendered (Starlette and Jinja2, no
JavaScript), read-only.

- ``/ui/``: the recent reviews of the installation (``?team=`` for one team's);
- ``/ui/teams``: every team with reviews or a prompts file;
- ``/ui/team?name=``: a team's reviews and cost, acceptance of its findings per aspect, the prompt
  versions its reviews used and their acceptance;
- ``/ui/team/prompts?name=&aspect=``: the team's effective rules and prompts, as
  ``reviewer prompts show`` prints them.

Who may read them: reviewer.app.access. What they show comes from the review records
(reviewer.app.records, masked when written), the prompts folder and, when one is connected, the
feedback store (reviewer.app.team_stats); every value is escaped (autoescape) and passes the
configured-secret redaction on its way out. A page that cannot be built (Redis down, a broken
prompts folder) answers its own error page; the webhook intake beside it is not affected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from reviewer.app import redaction
from reviewer.app.access import Denied, TokenGate, pages_enabled
from reviewer.app.config import Settings
from reviewer.app.records import KEEP, STATUSES, ReviewRecord, ReviewRecords
from reviewer.app.team_stats import FeedbackStats, prompt_versions
from reviewer.errors import ConfigError
from reviewer.review.detectors.secrets import scan_text
from reviewer.review.prompts import ASPECTS, PromptStore, TeamPolicy, describe_prompts

log = logging.getLogger(__name__)

PATH = "/ui"
RECENT = 100
_STATIC = Path(__file__).parent / "static"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PROMPT_ASPECTS = (*ASPECTS, "+".join(ASPECTS))
Page = tuple[str, dict[str, Any]]  # a template and its values


@dataclass(frozen=True, slots=True)
class PageSources:
    records: ReviewRecords
    prompts: Callable[[], PromptStore]  # built on use: a broken prompts folder breaks one page only
    feedback: FeedbackStats | None = None  # None: acceptance is "not recorded yet"


def include_pages(
    app: Starlette, settings: Settings, client: redis.Redis, *, feedback: FeedbackStats | None = None
) -> bool:
    """Mount the pages on the intake ``app`` when they may be on (reviewer.app.access)."""
    token = settings.ui_token.get_secret_value() if settings.ui_token else None
    if not pages_enabled(settings.host, token):
        log.info("pages off: the intake listens beyond loopback and REVIEWER_UI_TOKEN is not set")
        return False
    from reviewer.app.services import thresholds

    sources = PageSources(
        ReviewRecords(client),
        lambda: PromptStore(settings.prompts_dir, defaults=thresholds(settings)),
        feedback,
    )
    app.mount(PATH, pages_app(sources, token=token))
    return True


def pages_app(sources: PageSources, *, token: str | None, path: str = PATH) -> Starlette:
    gate = TokenGate(token, cookie_path=path)
    env = _environment()

    def page(build: Callable[[Request], Page]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            decision = gate.check(request)
            if isinstance(decision, Denied):
                html = env.get_template("denied.html").render(base=path, reason=decision.reason)
                response: Response = HTMLResponse(html, status_code=401)
                response.headers["WWW-Authenticate"] = 'Bearer realm="reviewer pages"'
                return _secured(response)
            if decision is not None:
                return _secured(decision)
            template, context = await run_in_threadpool(build, request)
            return _secured(HTMLResponse(env.get_template(template).render(base=path, **context)))

        return endpoint

    def reviews(request: Request) -> Page:
        team = request.query_params.get("team")
        records = sources.records.recent(RECENT, team=team)
        return "reviews.html", {"team": team, "records": records, "verdicts": _any_verdict(records)}

    def teams(request: Request) -> Page:
        names = _team_names(sources.records.teams(), sources.prompts)
        return "teams.html", {"teams": [sources.records.totals(name) for name in names]}

    def team(request: Request) -> Page:
        name = request.query_params.get("name", "")
        records = sources.records.recent(KEEP, team=name)
        acceptance = sources.feedback.acceptance(name) if sources.feedback is not None else None
        return "team.html", {
            "team": name,
            "totals": sources.records.totals(name),
            "statuses": STATUSES,
            "acceptance": acceptance,
            "feedback_connected": sources.feedback is not None,
            "versions": prompt_versions(records),
            "window": len(records),
            "records": records[:RECENT],
            "verdicts": _any_verdict(records),
        }

    def prompts(request: Request) -> Page:
        name = request.query_params.get("name", "")
        aspect = request.query_params.get("aspect", PROMPT_ASPECTS[-1])
        if aspect not in PROMPT_ASPECTS:
            aspect = PROMPT_ASPECTS[-1]
        store = sources.prompts()
        policy = store.policy(name or None)
        text = describe_prompts(store, policy, aspect)
        mask = scan_text([text, *policy.ignore_paths])
        return "prompts.html", {
            "team": name,
            "aspect": aspect,
            "aspects": PROMPT_ASPECTS,
            "policy": policy,
            "rules": _rules(policy, mask),
            "prompt": mask(text),
        }

    async def stylesheet(request: Request) -> Response:  # public: the token page needs it too
        return _secured(FileResponse(_STATIC / "pages.css", media_type="text/css"))

    async def failed(request: Request, exc: Exception) -> Response:
        log.warning("page %s could not be built: %s", request.url.path, type(exc).__name__)
        unavailable = isinstance(exc, redis.RedisError)
        html = env.get_template("error.html").render(
            base=path, what=type(exc).__name__, unavailable=unavailable
        )
        return _secured(HTMLResponse(html, status_code=503 if unavailable else 500))

    return Starlette(
        routes=[
            Route("/", page(reviews), methods=["GET"]),
            Route("/teams", page(teams), methods=["GET"]),
            Route("/team", page(team), methods=["GET"]),
            Route("/team/prompts", page(prompts), methods=["GET"]),
            Route("/static/pages.css", stylesheet, methods=["GET"]),
        ],
        exception_handlers={Exception: failed},
    )


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reviewer.app", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=lambda value: redaction.redact(value) if isinstance(value, str) else value,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=_utc, usd=_usd, number=_number, seconds=_seconds, percent=_percent, team=_team)
    env.tests["web_link"] = lambda url: isinstance(url, str) and url.startswith(("https://", "http://"))
    return env


def _secured(response: Response) -> Response:
    response.headers.update(_HEADERS)
    return response


def _any_verdict(records: list[ReviewRecord]) -> bool:
    return any(r.verdict for r in records)


def _team_names(recorded: list[str], prompts: Callable[[], PromptStore]) -> list[str]:
    """The teams with records, then those with only a prompts file (under its file name)."""
    try:
        files = sorted(p.stem for p in (prompts().root / "teams").glob("*.yaml"))
    except (ConfigError, OSError) as exc:  # the teams with records still deserve their page
        log.warning("cannot list the prompts folder's teams: %s", exc)
        files = []
    known = {_file_name(team) for team in recorded}
    return recorded + [name for name in files if name not in known]


def _file_name(team: str) -> str:
    """'group:default/payments' -> 'payments', as reviewer.review.prompts names a team's file."""
    return team.rsplit("/", 1)[-1].split(":")[-1]


def _rules(policy: TeamPolicy, mask: Callable[[str], str]) -> Mapping[str, str]:
    thresholds = policy.thresholds
    return {
        "Override files applied": ", ".join(policy.sources) or "none (the defaults)",
        "Aspects": ", ".join(policy.aspects) or "none",
        "Lowest severity posted": thresholds.min_severity.value,
        "Lowest confidence posted": f"{thresholds.min_confidence:g}",
        "Most comments per MR": str(thresholds.max_comments),
        "Model": policy.model or "the installation's (REVIEWER_LLM_MODEL)",
        "Paths ignored": mask(", ".join(policy.ignore_paths)) or "none beyond the installation's",
        "Extra instructions": mask(policy.instructions) or "none",
    }


def _utc(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _usd(amount: float) -> str:
    """Dollars to the cent's hundredth; below a cent, to six places (a small model's review)."""
    return f"${amount:,.6f}" if 0 < amount < 0.01 else f"${amount:,.4f}"


def _number(value: int) -> str:
    return f"{value:,}"


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _team(name: str) -> str:
    return name or "(not known)"
