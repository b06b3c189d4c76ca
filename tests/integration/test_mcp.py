"""`reviewer mcp` as coding agents use it: an MCP client from the same SDK (`mcp`) starts the server
over stdio or connects to it over streamable HTTP, lists the tools and reviews a real git
repository with a planted finding, against the gateway stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from fakes.gateway_server import FakeGateway
from fakes.gitrepo import GitRepo
from fakes.ports import free_port
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from reviewer.app.cli import main
from reviewer.app.config import SHIPPED_PROMPTS

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
SQL_FINDING = {
    "path": "app/db.py",
    "line": 3,
    "side": "new",
    "end_line": None,
    "severity": "high",
    "category": "security",
    "title": "SQL built by string formatting",
    "body": "User input reaches the query unescaped: bind it as a parameter.",
    "suggestion": '    return db.execute("SELECT * FROM users WHERE id = ?", (user_id,))',
    "confidence": 0.9,
}
EXPLANATION = "Formatting user_id into the SQL lets a caller inject SQL. Fix: bind it as a parameter."
AGENTS_MD = "# Agents\nRun make test.\n## Review guidelines\nEvery query goes through db.execute.\n## Build\n"
REVIEWER = Path(sys.executable).with_name("reviewer")  # the console script of this environment


def _gateway_answer(request: dict[str, Any]) -> str:
    """Findings for a review (it asks for a response format), prose for an explanation."""
    return json.dumps({"findings": [SQL_FINDING]}) if request.get("response_format") else EXPLANATION


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway(responder=_gateway_answer) as server:
        yield server


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    shutil.copytree(SHIPPED_PROMPTS, folder)
    (folder / "teams" / "payments.yaml").write_text("instructions: Money is Decimal, never float.\n")
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """main: the rules (owner team payments; .ai-review.yaml; AGENTS.md); HEAD: a key and a query
    built by formatting, and an .ai-review.yaml that would silence everything below critical."""
    catalog = "kind: Component\nmetadata:\n  name: app\nspec:\n  owner: group:default/payments\n"
    repo = GitRepo.create(
        tmp_path / "app",
        files={
            "catalog-info.yaml": catalog,
            ".ai-review.yaml": "instructions: Prefer pathlib.\n",
            "AGENTS.md": AGENTS_MD,
            "app/db.py": "def load(db, user_id):\n    return None\n",
        },
    )
    repo.commit(
        {
            "app/db.py": (
                "def load(db, user_id):\n"
                f'    key = "{AWS_KEY}"\n'
                '    return db.execute("SELECT * FROM users WHERE id = %s" % user_id)\n'
            ),
            ".ai-review.yaml": "min_severity: critical\n",
        },
        message="load a user",
    )
    return repo


def _environment(gateway: FakeGateway, prompts: Path, **extra: str) -> dict[str, str]:
    return {
        "REVIEWER_LLM_BASE_URL": gateway.base_url,
        "REVIEWER_LLM_API_KEY": "test-key",
        "REVIEWER_LLM_MODEL": "test-model",
        "REVIEWER_PROMPTS_DIR": str(prompts),
        **extra,
    }


def _text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def _exercise(client: Client, repo: GitRepo, gateway: FakeGateway, tmp_path: Path) -> None:
    """What an agent does in a session, with what each answer must hold."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"review_diff", "explain_finding", "team_rules"}
    assert all(len(tool.description or "") <= 100 for tool in tools.values())
    assert tools["review_diff"].output_schema is not None  # findings come back structured

    reviewed = await client.call_tool("review_diff", {"repo": str(repo.path), "rev_range": "main~1..main"})
    assert not reviewed.is_error, _text(reviewed)
    result = reviewed.structured_content
    assert result is not None
    by_source = {finding["source"]: finding for finding in result["findings"]}
    secret, model = by_source["secrets"], by_source["model"]
    where = (secret["path"], secret["line"], secret["side"], secret["severity"])
    assert where == ("app/db.py", 2, "new", "critical")
    assert {k: model[k] for k in ("path", "line", "side", "severity", "title", "suggestion")} == {
        k: SQL_FINDING[k] for k in ("path", "line", "side", "severity", "title", "suggestion")
    }
    assert model["body"] == SQL_FINDING["body"] and model["category"] == "security"
    # The rules are the base's: owner team, its file, .ai-review.yaml and AGENTS.md's review section;
    # the head's .ai-review.yaml (critical only) would have dropped the model's high finding.
    team = ["team: group:default/payments", "teams/payments.yaml"]
    assert result["rules"] == [*team, ".ai-review.yaml", "AGENTS.md"]
    review_request, second_look = gateway.requests  # the review, then the second look at its finding
    checked = second_look.messages[-1]["content"]
    assert checked.startswith("<findings>") and "% user_id" in checked  # the code at the range's head
    assert AWS_KEY not in json.dumps(second_look.body)
    system = review_request.messages[0]["content"]
    assert "Money is Decimal" in system and "Prefer pathlib." in system
    assert "Every query goes through db.execute." in system and "Run make test." not in system
    assert AWS_KEY not in json.dumps(review_request.body) and AWS_KEY not in json.dumps(result)

    explained = await client.call_tool(
        "explain_finding",
        {
            "repo": str(repo.path),
            "rev_range": "main~1..main",
            "path": "app/db.py",
            "line": 3,
            "title": SQL_FINDING["title"],
        },
    )
    assert not explained.is_error and _text(explained) == EXPLANATION
    explain_request = gateway.requests[-1]
    assert explain_request.response_format is None
    assert "% user_id" in explain_request.messages[1]["content"]
    assert AWS_KEY not in json.dumps(explain_request.body)

    rules = await client.call_tool("team_rules", {"team": "payments"})
    assert not rules.is_error and "Money is Decimal, never float." in _text(rules)
    assert "teams/payments.yaml" in _text(rules)

    plain = tmp_path / "plain"
    plain.mkdir()
    not_a_repo = await client.call_tool("review_diff", {"repo": str(plain), "rev_range": "HEAD"})
    assert not_a_repo.is_error and "not in a git work tree" in _text(not_a_repo)
    owned = tmp_path / "owned"
    for bad, reason in ((f"--output={owned}", "not a revision range"), ("no-such-ref..main", "no-such-ref")):
        refused = await client.call_tool("review_diff", {"repo": str(repo.path), "rev_range": bad})
        assert refused.is_error and reason in _text(refused)
    assert not owned.exists()  # the range never reached git as an option
    # the server is still there after the errors
    again = await client.call_tool("review_diff", {"diff": repo.run("diff", "main~1", "main").decode()})
    assert not again.is_error and again.structured_content is not None
    assert {f["source"] for f in again.structured_content["findings"]} == {"secrets", "model"}


def test_stdio_session_reviews_explains_and_reports_errors(
    repo: GitRepo, gateway: FakeGateway, prompts: Path, tmp_path: Path
) -> None:
    assert REVIEWER.is_file(), f"the reviewer console script is not installed beside {sys.executable}"
    parameters = StdioServerParameters(
        command=str(REVIEWER), args=["mcp"], env=_environment(gateway, prompts), cwd=str(tmp_path)
    )
    log = tmp_path / "mcp.log"

    async def session() -> None:
        with log.open("w") as errlog:
            async with Client(stdio_client(parameters, errlog=errlog)) as client:
                await _exercise(client, repo, gateway, tmp_path)

    anyio.run(session)
    assert "Traceback" not in log.read_text()


@pytest.fixture
def http_server(gateway: FakeGateway, prompts: Path, tmp_path: Path) -> Iterator[str]:
    """`reviewer mcp --transport http` on a free loopback port, with a bearer token; its URL."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEWER_", "OPENAI_"))}
    environment.update(_environment(gateway, prompts, REVIEWER_MCP_TOKEN="s3cret-token"))
    log = tmp_path / "mcp-http.log"
    process = subprocess.Popen(
        [str(REVIEWER), "mcp", "--transport", "http", "--port", str(port)],
        env=environment,
        cwd=tmp_path,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)  # polling a condition with a deadline
        assert process.poll() is None, log.read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def test_http_session_needs_the_token_and_then_works(
    http_server: str, repo: GitRepo, gateway: FakeGateway, tmp_path: Path
) -> None:
    refused = httpx.post(http_server, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401
    wrong = httpx.post(http_server, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401

    async def session() -> None:
        headers = {"Authorization": "Bearer s3cret-token"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(http_server, http_client=http)) as client,
        ):
            await _exercise(client, repo, gateway, tmp_path)

    anyio.run(session)


def test_http_beyond_loopback_without_a_token_does_not_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    assert "REVIEWER_MCP_TOKEN" in capsys.readouterr().err


def test_explain_without_a_gateway_says_one_is_needed(repo: GitRepo, tmp_path: Path) -> None:
    from reviewer.app.config import Settings
    from reviewer.app.mcp import build_server

    change = {"repo": str(repo.path), "rev_range": "main~1..main"}

    async def session() -> tuple[Any, Any]:
        async with Client(build_server(Settings())) as client:
            finding = {"path": "app/db.py", "line": 3, "title": "t"}
            explained = await client.call_tool("explain_finding", {**change, **finding})
            reviewed = await client.call_tool("review_diff", change)
            return explained, reviewed

    explained, reviewed = anyio.run(session)
    assert explained.is_error and "REVIEWER_LLM_BASE_URL" in _text(explained)
    assert not reviewed.is_error and reviewed.structured_content is not None
    assert [f["source"] for f in reviewed.structured_content["findings"]] == ["secrets"]
    assert any("deterministic checks only" in note for note in reviewed.structured_content["notes"])
