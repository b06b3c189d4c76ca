"""The review engine against the gateway stand-in over HTTP: aspects in parallel, tiers pick
models, invalid answers are reported, usage and cost are summed, secrets never leave."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway, answer, error

from reviewer.app.config import SHIPPED_PROMPTS
from reviewer.diff.parsing import DiffRefs, parse_unified
from reviewer.diff.positions import Inline
from reviewer.model.client import GatewayConfig, LLMClient
from reviewer.model.usage import Price
from reviewer.review.engine import Engine, ModelChoice
from reviewer.review.findings import Severity, Thresholds
from reviewer.review.planning import PlanConfig, Tier
from reviewer.review.prompts import PromptStore
from reviewer.review.tokens import default_counter

REFS = DiffRefs("b" * 40, "s" * 40, "h" * 40)
AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _diff(files: dict[str, list[str]]) -> str:
    parts = []
    for path, lines in files.items():
        body = "".join(f"+{line}\n" for line in lines)
        parts.append(
            f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}"
        )
    return "".join(parts)


def _engine(gateway: FakeGateway, **plan: Any) -> Engine:
    llm = LLMClient(
        GatewayConfig(
            base_url=gateway.base_url,
            api_key="k",
            timeout=5,
            max_attempts=1,
            prices={"big": Price(2.0, 8.0, 1.0), "small": Price(0.1, 0.4)},
        ),
        sleep=lambda _: None,
    )
    return Engine(
        prompts=PromptStore(SHIPPED_PROMPTS, defaults=Thresholds(Severity.LOW, 0.5, 10)),
        llm=llm,
        models=ModelChoice(default="big", lite="small", per_aspect={"security": "sec-model"}),
        plan_config=PlanConfig(**plan),
        counter=default_counter(),
        concurrency=8,
    )


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway(latency=0.2) as server:
        yield server


def _finding(path: str, line: int, title: str, severity: str = "high") -> dict[str, Any]:
    return {
        "path": path,
        "line": line,
        "side": "new",
        "end_line": None,
        "severity": severity,
        "category": "x",
        "title": title,
        "body": "b",
        "suggestion": None,
        "confidence": 0.9,
    }


def test_chunks_and_aspects_run_concurrently(gateway: FakeGateway) -> None:
    files = {f"src/mod{i}.py": [f"value_{i}_{j} = compute({j})" for j in range(60)] for i in range(6)}
    engine = _engine(gateway, chunk_tokens=700)
    analysis = engine.analyse(
        parse_unified(_diff(files)), REFS, title="t", policy=engine.prompts.policy(None)
    )
    assert len(analysis.plan.chunks) >= 3
    assert analysis.model_calls == len(analysis.plan.chunks)  # no sensitive file: one call a chunk
    assert len(gateway.requests) == analysis.model_calls
    assert gateway.max_in_flight >= 4  # calls overlapped instead of running one after another


def test_small_changes_use_the_cheap_model_and_sensitive_paths_the_full_one(gateway: FakeGateway) -> None:
    engine = _engine(gateway)
    small = engine.analyse(
        parse_unified(_diff({"src/util.py": ["x = 1"]})), REFS, title="t", policy=engine.prompts.policy(None)
    )
    assert small.plan.tier is Tier.TRIVIAL
    assert {r.model for r in gateway.requests} == {"small"}

    before = len(gateway.requests)
    sensitive = engine.analyse(
        parse_unified(_diff({"src/auth/login.py": ["x = 1"]})),
        REFS,
        title="t",
        policy=engine.prompts.policy(None),
    )
    assert sensitive.plan.tier is Tier.FULL
    assert {r.model for r in gateway.requests[before:]} == {"sec-model", "big"}


def test_a_small_change_is_reviewed_for_both_aspects_in_one_call(gateway: FakeGateway) -> None:
    gateway.responder = lambda request: json.dumps(
        {
            "findings": [
                {**_finding("src/app.py", 1, "Shell injection"), "category": "security"},
                {**_finding("src/app.py", 2, "Unused result", "medium"), "category": "style"},
            ]
        }
    )
    engine = _engine(gateway)
    files = parse_unified(_diff({"src/app.py": ["os.system(cmd)", "len(items)"]}))
    analysis = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))
    (request,) = gateway.requests
    system = request.messages[0]["content"]
    assert "[security]" in system and "[style]" in system
    assert {(f.title, f.aspect) for f, _ in analysis.placed} == {
        ("Shell injection", "security"),
        ("Unused result", "style"),
    }


def test_findings_are_merged_priced_and_an_invalid_aspect_is_reported(gateway: FakeGateway) -> None:
    def model(request: dict[str, Any]) -> Any:
        system = request["messages"][0]["content"]
        if "for security problems" in system:
            return answer(
                json.dumps({"findings": [_finding("src/auth/app.py", 2, "Shell injection")]}),
                prompt_tokens=1000,
                completion_tokens=100,
                cached_tokens=400,
            )
        return answer("this is not json", prompt_tokens=900, completion_tokens=50)

    gateway.responder = model
    engine = _engine(gateway)
    changed = ["import os", "os.system(cmd)", f'KEY = "{AWS_KEY}"']
    files = parse_unified(_diff({"src/auth/app.py": changed}))  # a sensitive path: a full review
    analysis = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))

    titles = sorted(f.title for f, _ in analysis.placed)
    assert "Shell injection" in titles
    assert any(f.source == "secrets" and f.severity is Severity.CRITICAL for f, _ in analysis.placed)
    assert all(isinstance(p, Inline) for _, p in analysis.placed)
    assert len(analysis.failures) == 1 and analysis.failures[0].aspect == "style"
    # security: 1 call; style: the call and one repair, both invalid
    assert analysis.usage.calls == 3
    assert analysis.usage.prompt_tokens == 1000 + 900 + 900
    assert analysis.usage.cached_tokens == 400
    # full tier: security on "sec-model" (no price), style on "big": $2 and $8 per million
    assert analysis.usage.cost == pytest.approx((1800 * 2.0 + 100 * 8.0) / 1e6)
    for request in gateway.requests:
        assert AWS_KEY not in json.dumps(request.body)


def test_a_gateway_that_refuses_everything_is_reported_not_raised(gateway: FakeGateway) -> None:
    gateway.responder = lambda request: error(400, "context length exceeded")
    engine = _engine(gateway)
    files = parse_unified(_diff({"src/app.py": ["x = 1"]}))
    analysis = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None))
    assert len(analysis.failures) == 1  # one call for both aspects of a trivial change
    assert "refused" in analysis.failures[0].problem


class DictAnswers:
    """An answer store in a dict: the engine sees the same Protocol the Redis ledger implements."""

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.kept.get(key)

    def put(self, key: str, value: str) -> None:
        self.kept[key] = value


def test_stored_answers_are_not_asked_again_and_give_the_same_findings(gateway: FakeGateway) -> None:
    def model(request: dict[str, Any]) -> Any:
        if "## src/b.py" in request["messages"][-1]["content"]:
            return error(500, "overloaded")
        return answer(
            json.dumps({"findings": [_finding("src/a.py", 1, "Shell injection")]}), prompt_tokens=500
        )

    gateway.responder = model
    engine = _engine(gateway, chunk_tokens=40)  # a chunk per file
    files = parse_unified(_diff({"src/a.py": ["os.system(cmd)"] * 3, "src/b.py": ["eval(x)"] * 3}))
    store = DictAnswers()
    first = engine.analyse(files, REFS, title="t", policy=engine.prompts.policy(None), answers=store)
    assert first.failed_paths == ("src/b.py",) and not first.complete
    assert len(store.kept) == 1 and first.reused == 0 and first.spent.prompt_tokens == 500
    asked = len(gateway.requests)

    gateway.responder = lambda request: answer(json.dumps({"findings": []}), prompt_tokens=300)
    again = engine.analyse(
        files, REFS, title="another title", policy=engine.prompts.policy(None), answers=store
    )
    assert len(gateway.requests) == asked + 1  # only the chunk that failed is asked again
    assert again.complete and again.reused == 1
    assert [f.fingerprint for f, _ in again.placed] == [f.fingerprint for f, _ in first.placed]
    assert again.spent.prompt_tokens == 300 and again.usage.prompt_tokens == 800


def test_a_key_in_the_merge_request_title_reaches_no_model(gateway: FakeGateway) -> None:
    key_id = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id: detect-secrets knows its shape
    gateway.responder = lambda request: answer(json.dumps({"findings": []}))
    engine = _engine(gateway)
    files = parse_unified(_diff({"src/app.py": ["x = 1"]}))
    engine.analyse(files, REFS, title=f"Rotate {key_id} today", policy=engine.prompts.policy(None))
    assert gateway.requests
    for request in gateway.requests:
        assert key_id not in json.dumps(request.body)
