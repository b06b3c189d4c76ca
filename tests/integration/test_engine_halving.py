"""The engine against the gateway stand-in when a chunk does not fit the model: an answer cut off at
its length limit, or a prompt over the context window. The chunk is halved (between files, hunks,
lines) and each half asked again; what still does not fit is named, and reaches the summary."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway, Reply
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.app.config import SHIPPED_PROMPTS, Settings
from reviewer.app.services import build_engine
from reviewer.diff.parsing import DiffRefs, parse_unified
from reviewer.gitlab.client import GitLabClient
from reviewer.model.client import GatewayConfig, LLMClient
from reviewer.pipeline import ReviewRequest, review_merge_request
from reviewer.review.engine import MAX_HALVINGS, Engine, ModelChoice
from reviewer.review.findings import Severity, Thresholds
from reviewer.review.planning import PlanConfig
from reviewer.review.prompts import PromptStore
from reviewer.review.tokens import default_counter

REFS = DiffRefs("b" * 40, "s" * 40, "h" * 40)
RAMBLING = "Let me think about this change step by step. " * 40  # over any small max_tokens


def _new_file(path: str, lines: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def _engine(gateway: FakeGateway, max_tokens: int = 100) -> Engine:
    llm = LLMClient(
        GatewayConfig(
            base_url=gateway.base_url,
            api_key="test-key-123",
            timeout=5,
            max_attempts=1,
            max_tokens=max_tokens,
        ),
        sleep=lambda _: None,
    )
    return Engine(
        prompts=PromptStore(SHIPPED_PROMPTS, defaults=Thresholds(Severity.LOW, 0.5, 10)),
        llm=llm,
        models=ModelChoice(default="m"),
        plan_config=PlanConfig(),
        counter=default_counter(),
    )


def _diff_in(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"])


def _added_lines(request: dict[str, Any]) -> list[tuple[str, int]]:
    """(path, new line number) of every added line the request shows."""
    found, path = [], ""
    for line in _diff_in(request).splitlines():
        if line.startswith("## "):
            path = line[3:].split()[0]  # "## path (new file)"
        elif match := re.match(r"\s*(\d+) \+ ", line):
            found.append((path, int(match.group(1))))
    return found


def _finding(path: str, line: int) -> dict[str, Any]:
    return {
        "path": path,
        "line": line,
        "side": "new",
        "end_line": None,
        "severity": "high",
        "category": "style",
        "title": f"Problem at {path}:{line}",
        "body": "b",
        "suggestion": None,
        "confidence": 0.9,
    }


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as server:
        yield server


def test_a_chunk_whose_answer_is_cut_off_is_asked_again_in_two_halves(gateway: FakeGateway) -> None:
    def model(request: dict[str, Any]) -> str:
        lines = _added_lines(request)
        if len({path for path, _ in lines}) > 1:
            return RAMBLING  # two files at once: too much to say within max_tokens
        return json.dumps({"findings": [_finding(*lines[0])]})

    gateway.responder = model
    engine = _engine(gateway)
    files = parse_unified(_new_file("src/a.py", ["a = 1"]) + _new_file("src/b.py", ["b = 2"]))
    analysis = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))

    assert analysis.failures == []
    assert sorted((f.path, f.line) for f, _ in analysis.placed) == [("src/a.py", 1), ("src/b.py", 1)]
    asked = [sorted({p for p, _ in _added_lines(r.body)}) for r in gateway.requests]
    assert asked == [["src/a.py", "src/b.py"], ["src/a.py"], ["src/b.py"]]
    assert all(r.body["max_tokens"] == 100 for r in gateway.requests)
    assert analysis.usage.calls == 3  # the cut-off answer is paid for too


def test_one_file_is_halved_between_its_hunks_then_between_lines(gateway: FakeGateway) -> None:
    def model(request: dict[str, Any]) -> str:
        lines = _added_lines(request)
        return RAMBLING if len(lines) > 1 else json.dumps({"findings": [_finding(*lines[0])]})

    gateway.responder = model
    engine = _engine(gateway)
    diff = (
        "--- a/src/c.py\n+++ b/src/c.py\n@@ -1,3 +1,4 @@\n line1\n+new1\n line2\n line3\n"
        "@@ -30,3 +31,5 @@\n line30\n+new2\n line31\n+new3\n line32\n"
    )
    analysis = engine.analyse(parse_unified(diff), REFS, title="t", policy=engine.prompts.policy(None))

    assert analysis.failures == []
    assert sorted(f.line for f, _ in analysis.placed) == [2, 32, 34]
    # whole file; first hunk | second hunk; the second hunk's two runs of changes
    assert [len(_added_lines(r.body)) for r in gateway.requests] == [3, 1, 2, 1, 1]


def test_what_is_still_cut_off_after_the_last_halving_is_named(gateway: FakeGateway) -> None:
    gateway.responder = lambda request: RAMBLING
    engine = _engine(gateway)
    added = ["x = 1", "", "y = 2", "", "z = 3", "", "w = 4"]
    files = parse_unified(_new_file("src/d.py", added))
    analysis = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))

    calls = sum(2**depth for depth in range(MAX_HALVINGS + 1))
    assert len(gateway.requests) == calls == analysis.usage.calls  # 1 + 2 + 4: bounded
    assert len(analysis.failures) == 2**MAX_HALVINGS
    assert all(
        f.paths == ("src/d.py",) and "cut off at its length limit" in f.problem for f in analysis.failures
    )
    assert [re.search(r"\((lines? [0-9-]+)\)", f.problem)[0] for f in analysis.failures] == [  # type: ignore[index]
        "(line 1)",
        "(lines 2-3)",
        "(lines 4-5)",
        "(lines 6-7)",
    ]
    assert analysis.placed == []


def test_a_single_changed_line_cut_off_is_not_halved(gateway: FakeGateway) -> None:
    gateway.responder = lambda request: RAMBLING
    engine = _engine(gateway)
    files = parse_unified(_new_file("src/e.py", ["value = compute()"]))
    analysis = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))

    assert len(gateway.requests) == 1
    (failure,) = analysis.failures
    assert failure.paths == ("src/e.py",) and "REVIEWER_LLM_MAX_TOKENS" in failure.problem


def test_a_prompt_over_the_context_window_is_asked_again_in_halves() -> None:
    files = parse_unified(
        _new_file("src/f.py", [f"f{n} = {n}" for n in range(30)])
        + _new_file("src/g.py", [f"g{n} = {n}" for n in range(30)])
    )

    def prompt_tokens(request: Any) -> int:
        return sum(len(m["content"]) for m in request.messages) // 4

    with FakeGateway(server="vllm") as gateway:
        engine = _engine(gateway)
        engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))
        whole = prompt_tokens(gateway.requests[0])
        gateway.context_window = whole - 10 + 100  # the whole chunk no longer fits, each file does
        gateway.responder = lambda request: json.dumps({"findings": [_finding(*_added_lines(request)[0])]})
        before = len(gateway.requests)

        analysis = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))

        asked = gateway.requests[before:]
    assert analysis.failures == []
    assert [sorted({p for p, _ in _added_lines(r.body)}) for r in asked] == [
        ["src/f.py", "src/g.py"],
        ["src/f.py"],
        ["src/g.py"],
    ]
    assert sorted(f.path for f, _ in analysis.placed) == ["src/f.py", "src/g.py"]
    assert analysis.usage.calls == 2  # the refused call bills nothing


def test_a_merge_request_whose_answers_are_always_cut_off_says_so_in_its_summary(tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "app", files={"app/io.py": "def load(path):\n    return path\n"})
    repo.commit(
        {"app/io.py": "def load(path):\n    log(path)\n    return path\n"}, branch="feature", message="x"
    )
    with GitLabStandIn() as gitlab, FakeGateway(default=Reply(content=RAMBLING)) as gateway:
        pid = gitlab.add_project("group/app", repo)
        iid = gitlab.open_mr(pid, "feature", title="Read the file")
        settings = Settings(
            llm_base_url=gateway.base_url,
            llm_api_key="k",
            llm_max_attempts=1,
            llm_max_tokens=40,
            _env_file=None,
        )
        client = GitLabClient(gitlab.url, gitlab.token, max_retries=1)
        outcome = review_merge_request(build_engine(settings), client, ReviewRequest(pid, iid, "manual"))

        (summary,) = [n["body"] for n in gitlab.notes(pid, iid) if "ai-review summary" in n["body"]]
        assert outcome.status == "partial"  # its file is named for the next trigger to try again
        assert "cut off at its length limit" in summary and "app/io.py" in summary
        assert all(r.body["max_tokens"] == 40 for r in gateway.requests)
        assert len(gateway.requests) == 1  # one changed line: nothing to halve, no repair request
