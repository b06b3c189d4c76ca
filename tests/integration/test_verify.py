"""reviewer.review.verify: the second look, against the gateway stand-in over HTTP: one batched
call with the code at the head around each finding, keeps or drops each, and keeps everything
(saying so) when it cannot check."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway, answer, error

from reviewer.app.config import SHIPPED_PROMPTS
from reviewer.diff.parsing import parse_unified
from reviewer.model.client import GatewayConfig, LLMClient
from reviewer.model.usage import Price
from reviewer.review.detectors.secrets import Masker
from reviewer.review.findings import Finding, Severity, Side
from reviewer.review.prompts import PromptStore
from reviewer.review.verify import SecondLookConfig, second_look

KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
HEAD = "".join(f"line {n}\n" for n in range(1, 31)).replace("line 12\n", f"token = '{KEY}'\n")
DIFF = "--- a/app/x.py\n+++ b/app/x.py\n@@ -14,4 +14,4 @@\n line 14\n-old 15\n+line 15\n line 16\n line 17\n"


def finding(
    line: int, title: str, *, side: Side = Side.NEW, severity: Severity = Severity.HIGH, **extra: Any
) -> Finding:
    return Finding("security", severity, "app/x.py", line, side, title, "Why it matters.", **extra)


class Store(dict[str, str]):
    def put(self, key: str, value: str) -> None:
        self[key] = value


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as server:
        yield server


def look(gateway: FakeGateway, findings: list[Finding], **kwargs: Any) -> Any:
    llm = LLMClient(
        GatewayConfig(
            base_url=gateway.base_url, api_key="k", max_attempts=1, prices={"lite": Price(1.0, 2.0)}
        ),
        sleep=lambda _: None,
    )
    config = kwargs.pop("config", SecondLookConfig(enabled=True, lines_around=2))
    return second_look(
        findings,
        llm=llm,
        prompts=PromptStore(SHIPPED_PROMPTS),
        models=["lite"],
        files=parse_unified(DIFF),
        texts={"app/x.py": HEAD},
        masker=Masker(),
        config=config,
        **kwargs,
    )


def verdicts(*items: tuple[int, bool, str]) -> str:
    return json.dumps({"verdicts": [{"id": n, "keep": keep, "reason": why} for n, keep, why in items]})


def test_one_call_sees_the_code_around_each_finding_and_drops_what_it_is_told(gateway: FakeGateway) -> None:
    real, wrong = finding(15, "Unchecked input"), finding(13, "Token compared in variable time")
    secret = finding(16, "Hard-coded secret", source="secrets")  # the detector's: never sent
    gateway.script(
        answer(verdicts((1, True, "The input reaches the query."), (2, False, "Line 13 compares nothing.")))
    )

    kept, result = look(gateway, [real, wrong, secret])

    assert kept == [real, secret]
    assert result.checked == 2 and result.dropped == ((wrong, "Line 13 compares nothing."),)
    assert result.problem == "" and result.usage.prompt_tokens > 0 and result.usage.cost > 0
    (request,) = gateway.requests
    assert request.model == "lite" and request.response_format["json_schema"]["name"] == "verdicts"
    sent = request.messages[-1]["content"]
    entries = re.split(r"\n\n(?=\[\d\] )", sent.removeprefix("<findings>\n"))
    assert entries[0].startswith("[1] app/x.py:15 (new side) high security: Unchecked input")
    assert (
        "   15> line 15" in entries[0] and "   13  line 13" in entries[0] and "   17  line 17" in entries[0]
    )
    assert "   12" not in entries[0]  # two lines each side
    assert "   13> line 13" in entries[1] and "token = '[REDACTED]'" in entries[1]  # masked, still shown
    assert KEY not in json.dumps(request.body) and "Hard-coded secret" not in sent


def test_a_removed_line_is_shown_from_the_diff(gateway: FakeGateway) -> None:
    gateway.script(answer(verdicts((1, True, "ok"))))
    look(gateway, [finding(15, "Validation removed", side=Side.OLD)])
    sent = gateway.requests[0].messages[-1]["content"]
    assert "> 15 - old 15" in sent and "  14   line 14" in sent


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (error(500), "the second look failed"),
        (answer('{"findings": []}'), "the second look's answer was invalid (verdicts: Field required)"),
        (answer("Looks fine to me!"), "the second look's answer was invalid"),
    ],
)
def test_a_failed_or_invalid_second_look_keeps_every_finding_and_says_so(
    gateway: FakeGateway, reply: Any, problem: str
) -> None:
    findings = [finding(15, "Unchecked input"), finding(13, "Timing")]
    gateway.script(reply)
    kept, result = look(gateway, findings)
    assert kept == findings and result.dropped == ()
    assert result.problem.startswith(problem) and result.problem.endswith("every finding was kept")


def test_a_verdict_for_no_finding_is_ignored_and_a_finding_without_one_is_kept(gateway: FakeGateway) -> None:
    findings = [finding(15, "Unchecked input"), finding(13, "Timing")]
    gateway.script(
        answer(verdicts((2, False, "No."), (7, False, "No such finding."), (2, True, "Second verdict.")))
    )
    kept, result = look(gateway, findings)
    assert kept == findings[:1] and [reason for _, reason in result.dropped] == ["No."]


def test_findings_below_the_minimum_severity_are_kept_unchecked(gateway: FakeGateway) -> None:
    low = finding(15, "Naming", severity=Severity.LOW)
    config = SecondLookConfig(enabled=True, min_severity=Severity.MEDIUM)
    kept, result = look(gateway, [low], config=config)
    assert kept == [low] and result.checked == 0 and gateway.requests == []


def test_a_retry_takes_the_stored_verdicts_and_asks_nothing(gateway: FakeGateway) -> None:
    findings = [finding(15, "Unchecked input"), finding(13, "Timing")]
    store = Store()
    gateway.script(answer(verdicts((1, True, "ok"), (2, False, "No."))))
    first_kept, first = look(gateway, findings, answers=store)

    again_kept, again = look(gateway, findings, answers=store)

    assert len(gateway.requests) == 1
    assert again_kept == first_kept and again.dropped == first.dropped
    assert again.reused and again.spent.prompt_tokens == 0 and again.usage == first.usage
