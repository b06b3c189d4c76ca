"""``reviewer mcp``: review before push, for coding agents, over the Model Context Protocol (the
official ``mcp`` SDK, 2.x: ``MCPServer``).

Transports: stdio (a local agent starts ``reviewer mcp``) and streamable HTTP (``--transport http``,
served at ``http://HOST:PORT/mcp`` for an organisation's MCP portal). HTTP binds 127.0.0.1 unless
told otherwise (with the SDK's DNS-rebinding protection there); beyond loopback it refuses to start
without ``REVIEWER_MCP_TOKEN``, and with a token set every request must carry
``Authorization: Bearer <token>``. Repository paths are paths on the machine the server runs on.

Tools (short descriptions: every agent session pays for the schemas in tokens):

- ``review_diff``: the engine of every review (``reviewer.review.local``) over a diff text or a
  git range, with the repository's rules read at the range's base (``reviewer.review.repository``:
  ``catalog-info.yaml``'s owner team, ``.ai-review.yaml``, ``AGENTS.md``'s review section), as the
  bot reads them from an MR's target branch. Findings come back structured, secrets masked.
- ``explain_finding``: one model call about one finding (``reviewer.review.explain``).
- ``team_rules``: what ``reviewer prompts show`` prints.

A bad input (no git repository, a bad range, no gateway for an explanation) is a tool error with
the reason, never a crash of the server.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

from reviewer.app.access import is_loopback
from reviewer.app.config import Settings
from reviewer.app.local_git import LocalRepository
from reviewer.app.services import build_engine
from reviewer.diff.parsing import FileDiff, parse_unified
from reviewer.errors import ConfigError, ReviewerError
from reviewer.review.detectors.secrets import scan as scan_secrets
from reviewer.review.engine import Engine
from reviewer.review.explain import explain_finding
from reviewer.review.findings import Finding, Side
from reviewer.review.local import analyse_local_diff
from reviewer.review.planning import Tier
from reviewer.review.prompts import describe_prompts
from reviewer.review.repository import RepositoryRules, repository_rules

TRANSPORTS = ("stdio", "http")
DEFAULT_PORT = 8765
PATH = "/mcp"
_NO_GATEWAY = (
    "explain_finding needs a model gateway: set REVIEWER_LLM_BASE_URL, REVIEWER_LLM_API_KEY and "
    "REVIEWER_LLM_MODEL where `reviewer mcp` runs. review_diff's deterministic checks work without one."
)
_MAX_NOTES = 20

# The tools' schemas go into every agent session's context, so they stay short: "" for an absent
# text (no anyOf with null), no titles, no docstrings on the result models.
DiffText = Annotated[str, Field(description="unified diff text; or give repo (+ rev_range)")]
RepoPath = Annotated[str, Field(description="local git repository path")]
RevRange = Annotated[str, Field(description='e.g. "main...HEAD"; default "HEAD" (uncommitted)')]


def _untitled(schema: dict[str, Any]) -> None:
    schema.pop("title", None)
    for field in schema.get("properties", {}).values():
        field.pop("title", None)


class ReportedFinding(BaseModel):
    model_config = ConfigDict(json_schema_extra=_untitled)

    path: str
    line: int
    side: Literal["new", "old"]
    end_line: int | None
    severity: Literal["critical", "high", "medium", "low", "info"]
    category: str
    title: str
    body: str
    suggestion: str | None
    source: str


class ReviewResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=_untitled)

    findings: list[ReportedFinding]
    tier: str
    rules: list[str]
    notes: list[str]


@dataclass
class _Change:
    files: list[FileDiff]
    rules: RepositoryRules
    title: str


class ReviewTools:
    """The tools' work, transport aside: each takes plain values and raises ReviewerError."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine if engine is not None else build_engine(settings)

    def review_diff(self, diff: str | None, repo: str | None, rev_range: str | None) -> ReviewResult:
        change = self._change(diff, repo, rev_range)
        policy = change.rules.policy
        analysis = analyse_local_diff(
            self.engine,
            change.files,
            title=change.title,
            policy=policy,
            service=change.rules.service.describe() if change.rules.service else "",
            trigger="mcp",
        )
        mask = scan_secrets(change.files).masker
        notes = list(change.rules.notes)
        if self.engine.llm is None:
            notes.append("no model gateway configured: deterministic checks only (REVIEWER_LLM_BASE_URL)")
        notes.extend(mask(str(failure)) for failure in analysis.failures)
        notes.extend(mask(f"not reviewed: {s.path} ({s.reason})") for s in analysis.plan.skipped)
        if analysis.over_cap:
            notes.append(f"{len(analysis.over_cap)} more findings over the team's limit of comments")
        return ReviewResult(
            findings=[_reported(finding, mask) for finding, _ in analysis.placed],
            tier=analysis.plan.tier.value,
            rules=[f"team: {policy.team or 'default'}", *policy.sources],
            notes=notes[:_MAX_NOTES],
        )

    def explain_finding(
        self,
        path: str,
        line: int,
        title: str,
        body: str,
        side: str,
        diff: str | None,
        repo: str | None,
        rev_range: str | None,
    ) -> str:
        if self.engine.llm is None:
            raise ReviewerError(_NO_GATEWAY)
        change = self._change(diff, repo, rev_range)
        policy = change.rules.policy
        explanation = explain_finding(
            self.engine.llm,
            change.files,
            path=path,
            line=line,
            side=Side(side),
            title=title,
            body=body,
            models=self.engine.models.for_review("+".join(policy.aspects), Tier.FULL, policy),
            policy=policy,
            metadata={"trigger": "mcp-explain"},
        )
        return explanation.text

    def team_rules(self, team: str | None, repo: str | None, aspect: str) -> str:
        prompts = self.engine.prompts
        if repo:
            local = LocalRepository.open(repo)
            rules = repository_rules(prompts, local.reader("HEAD"), team=team)
            policy, notes = rules.policy, rules.notes
        else:
            policy, notes = prompts.policy(team), ()
        return "\n".join([describe_prompts(prompts, policy, aspect), *(f"\nnote: {n}" for n in notes)])

    def _change(self, diff: str | None, repo: str | None, rev_range: str | None) -> _Change:
        """The diff to review and the rules that apply: those of ``repo`` at the range's base (at
        HEAD for a diff text), the default team's without a repository."""
        if diff is not None and rev_range:
            raise ReviewerError("give either diff or rev_range, not both")
        if repo:
            local = LocalRepository.open(repo)
            rules = repository_rules(self.engine.prompts, local.reader(local.base(rev_range or "HEAD")))
            if diff is None:
                rev_range = rev_range or "HEAD"
                diff = local.diff(rev_range)
        else:
            rules = RepositoryRules(self.engine.prompts.policy(None), None, ("no repository: default rules",))
        if diff is None:
            raise ReviewerError("give a diff text, or repo (a local git repository path) and rev_range")
        files = parse_unified(diff)
        title = f"local change {rev_range}" if rev_range else "local change"
        if not files:
            raise ReviewerError(f"the diff of the {title} is empty: nothing to review")
        return _Change(files, rules, title)


def _reported(finding: Finding, mask: Any) -> ReportedFinding:
    return ReportedFinding(
        path=mask(finding.path),
        line=finding.line,
        side=finding.side.value,
        end_line=finding.end_line,
        severity=finding.severity.value,
        category=finding.aspect,
        title=mask(finding.title),
        body=mask(finding.body),
        suggestion=mask(finding.suggestion) if finding.suggestion is not None else None,
        source=finding.source,
    )


@contextmanager
def _as_tool_error() -> Iterator[None]:
    """The project's errors (bad input, git, the gateway) as MCP tool errors with their reason."""
    try:
        yield
    except ReviewerError as exc:
        raise ToolError(str(exc)) from None


def build_server(settings: Settings, tools: ReviewTools | None = None) -> MCPServer[Any]:
    work = tools or ReviewTools(settings)
    server: MCPServer[Any] = MCPServer(
        "gitlab-ai-reviewer",
        instructions="Review a local change with the team's rules before pushing it.",
    )

    @server.tool(description="Review a diff or a git range with the repository's rules; returns findings.")
    def review_diff(diff: DiffText = "", repo: RepoPath = "", rev_range: RevRange = "") -> ReviewResult:
        with _as_tool_error():
            return work.review_diff(diff or None, repo or None, rev_range or None)

    @server.tool(
        description="Explain one finding in depth, with a fix (one model call).", structured_output=False
    )
    def explain_finding(
        path: str,
        line: int,
        title: str,
        body: str = "",
        side: Literal["new", "old"] = "new",
        diff: DiffText = "",
        repo: RepoPath = "",
        rev_range: RevRange = "",
    ) -> str:
        with _as_tool_error():
            return work.explain_finding(
                path, line, title, body, side, diff or None, repo or None, rev_range or None
            )

    @server.tool(description="A team's effective review prompts and rules.", structured_output=False)
    def team_rules(
        team: Annotated[str, Field(description="e.g. payments; default: repo's owner")] = "",
        repo: RepoPath = "",
        aspect: Literal["security", "style", "security+style"] = "security+style",
    ) -> str:
        with _as_tool_error():
            return work.team_rules(team or None, repo or None, aspect)

    return server


def run(settings: Settings, transport: str, host: str, port: int) -> int:
    """Serve until the client goes (stdio) or the process is stopped (HTTP)."""
    if transport == "stdio":
        build_server(settings).run("stdio")
        return 0
    token = settings.mcp_token.get_secret_value() if settings.mcp_token else None
    check_bind(host, token)
    import uvicorn

    app = http_app(build_server(settings), host, token)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0


def check_bind(host: str, token: str | None) -> None:
    if not token and not is_loopback(host):
        raise ConfigError(
            f"`reviewer mcp --transport http --host {host}` is reachable from other machines: "
            "set REVIEWER_MCP_TOKEN, the bearer token its clients must send"
        )


def http_app(server: MCPServer[Any], host: str, token: str | None) -> Any:
    """The streamable HTTP app at ``/mcp``, behind the bearer token when there is one."""
    app = server.streamable_http_app(streamable_http_path=PATH, host=host)
    return BearerToken(app, token) if token else app


class BearerToken:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` get 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b"a bearer token is required\n"})
                return
        await self.app(scope, receive, send)
