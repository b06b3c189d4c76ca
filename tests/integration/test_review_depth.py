"""Review depth against the stand-ins over HTTP: the enclosing context each hunk brings (read from
GitLab's repository files API at the head), the instructions teams already write, and the second
look before anything is posted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes.gateway_server import FakeGateway, error
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.app.config import Settings
from reviewer.app.services import build_engine
from reviewer.gitlab.client import GitLabClient
from reviewer.pipeline import ReviewOutcome, ReviewRequest, review_merge_request

PASSWORD = "Zq8#vLp2!rT9wXm4"
STEPS = "".join(f"        total += step_{n}(order)\n" for n in range(60))
BILLING = (
    "import os\n"
    "\n"
    "\n"
    "class Billing:\n"  # 4
    "    rate = 3\n"
    "\n"
    "    def settle(self, order,\n"  # 7
    "               retries=3):\n"
    "        total = 0\n"
    + STEPS  # 10..69
    + "        return total\n"
    "\n"
    "    def fee(self, amount):\n"  # 72
    f"        password = '{PASSWORD}'\n"  # 73: unchanged, never in the diff
    "        base = amount * self.rate\n"  # 74
    "        return base + 1\n"
)
FEATURE = BILLING.replace("step_40(order)", "step_40(order) * 2").replace(
    "amount * self.rate", "amount * self.rate * 1.2"
)


@dataclass
class Stack:
    gitlab: GitLabStandIn
    gateway: FakeGateway
    repo: GitRepo
    pid: int
    iid: int

    def review(self, **settings: Any) -> ReviewOutcome:
        config = Settings(
            llm_base_url=self.gateway.base_url,
            llm_api_key="k",
            llm_max_attempts=1,
            _env_file=None,
            **settings,
        )
        client = GitLabClient(self.gitlab.url, self.gitlab.token, max_retries=1)
        return review_merge_request(build_engine(config), client, ReviewRequest(self.pid, self.iid, "manual"))

    def summary(self) -> str:
        (note,) = [n for n in self.gitlab.notes(self.pid, self.iid) if "ai-review summary" in n["body"]]
        return str(note["body"])

    def review_prompts(self) -> list[str]:
        """The diff each review call sent (the user message of every call but the second look's)."""
        return [
            r.messages[-1]["content"] for r in self.gateway.requests if "<diff>" in r.messages[-1]["content"]
        ]


def _stack(tmp_path: Path, base: dict[str, str], feature: dict[str, str]) -> Iterator[Stack]:
    repo = GitRepo.create(tmp_path / "app", files=base)
    repo.commit(feature, branch="feature", message="change")
    with GitLabStandIn() as gitlab, FakeGateway() as gateway:
        pid = gitlab.add_project("group/app", repo)
        yield Stack(gitlab, gateway, repo, pid, gitlab.open_mr(pid, "feature", title="Adjust billing"))


@pytest.fixture
def billing(tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(tmp_path, {"app/billing.py": BILLING}, {"app/billing.py": FEATURE})


def _numbered(prompt: str) -> dict[int, str]:
    """The lines of a rendered diff by their number: ``N M code``."""
    lines = {}
    for line in prompt.splitlines():
        match = re.match(r"^(\d+) [ +-] ?(.*)$", line)
        if match:
            lines[int(match.group(1))] = match.group(2)
    return lines


# -- enclosing context -----------------------------------------------------------------------------


def test_a_hunk_deep_in_a_long_function_reaches_the_model_with_its_signature(billing: Stack) -> None:
    outcome = billing.review(verify=False)

    assert outcome.status == "reviewed"
    (prompt,) = billing.review_prompts()
    shown = _numbered(prompt)
    assert shown[4] == "class Billing:" and shown[7].strip() == "def settle(self, order,"
    assert shown[8].strip() == "retries=3):"
    assert 20 not in shown  # the long function is not sent whole: only around its change
    # the short function comes whole, its unchanged lines at their numbers
    assert shown[72].strip() == "def fee(self, amount):" and shown[75].strip() == "return base + 1"
    # each file was read once at the head, through the repository files API
    reads = billing.gitlab.requests_to("GET", r"/repository/files/app%2Fbilling\.py/raw")
    assert len(reads) == 1 and reads[0].query.get("ref") == billing.repo.rev_parse("feature")


def test_a_secret_on_an_unchanged_line_of_the_context_never_reaches_the_model(billing: Stack) -> None:
    billing.review(verify=False)
    (prompt,) = billing.review_prompts()
    assert PASSWORD not in prompt
    assert "password = '[REDACTED]'" in prompt  # the line is shown, its secret masked


def test_context_off_sends_the_diff_alone(billing: Stack) -> None:
    billing.review(verify=False, enclosing_context=False)
    (prompt,) = billing.review_prompts()
    assert "4   class Billing:" not in prompt
    assert billing.gitlab.requests_to("GET", r"/repository/files/app%2Fbilling\.py/raw") == []


def test_a_file_gitlab_cannot_give_is_reviewed_without_context(billing: Stack) -> None:
    billing.gitlab.inject("GET", r"/repository/files/app%2Fbilling\.py/raw", "refused", status=403)
    outcome = billing.review(verify=False)
    assert outcome.status == "reviewed"
    (prompt,) = billing.review_prompts()
    assert "4   class Billing:" not in prompt and "step_40(order) * 2" in prompt


# -- instructions teams already write ------------------------------------------------------------

DUO = """\
instructions:
  - name: Ruby style
    fileFilters: ["*.rb", "!spec/**"]
    instructions: |
      Prefer keyword arguments for methods with three or more parameters.
"""
RUBY = "".join(
    f"def charge_{n}(order, amount, currency)\n  order.pay(amount, currency)\nend\n" for n in range(8)
)
PYTHON = "".join(f"def refund_{n}(order):\n    return order.refund()\n\n" for n in range(8))


@pytest.fixture
def two_languages(tmp_path: Path) -> Iterator[Stack]:
    base = {
        ".gitlab/duo/mr-review-instructions.yaml": DUO,
        "AGENTS.md": "# Agents\n## Review guidelines\nNo raw SQL.\n",
        "app/AGENTS.md": "## Code review\nControllers stay thin.\n",
        "README.md": "# app\n",
    }
    # the MR's own branch rewrites the rules: they must not apply to its own review
    feature = {
        "app/billing.rb": RUBY,
        "lib/refunds.py": PYTHON,
        ".gitlab/duo/mr-review-instructions.yaml": DUO.replace("*.rb", "*.py"),
    }
    yield from _stack(tmp_path, base, feature)


def test_a_duo_instruction_reaches_only_the_calls_of_its_files_and_the_finding_names_it(
    two_languages: Stack,
) -> None:
    stack = two_languages

    def model(request: dict[str, Any]) -> str:
        prompt = request["messages"][-1]["content"]
        if "## app/billing.rb" not in prompt:
            return json.dumps({"findings": []})
        finding = {
            "path": "app/billing.rb",
            "line": 1,
            "side": "new",
            "severity": "low",
            "category": "style",
            "title": "Three positional parameters",
            "body": "Use keyword arguments.",
            "confidence": 0.9,
            "instruction": "Ruby style",
        }
        return json.dumps({"findings": [finding]})

    stack.gateway.responder = model
    outcome = stack.review(verify=False, chunk_tokens=300)  # each file in a call of its own

    assert outcome.status == "reviewed" and outcome.inline == 1
    calls = {
        ("ruby" if "## app/billing.rb" in r.messages[-1]["content"] else "python"): r.messages[0]["content"]
        for r in stack.gateway.requests
    }
    assert set(calls) == {"ruby", "python"}
    assert '"Ruby style": Prefer keyword arguments' in calls["ruby"]
    assert "Ruby style" not in calls["python"]  # its filters match the Ruby file only
    # AGENTS.md: the root one everywhere, app/AGENTS.md for the file under app/ only
    assert "No raw SQL." in calls["ruby"] and "No raw SQL." in calls["python"]
    assert "Controllers stay thin." in calls["ruby"] and "Controllers stay thin." not in calls["python"]
    (thread,) = [d for d in stack.gitlab.discussions(stack.pid, stack.iid) if d["notes"][0].get("position")]
    assert "Per the team's instruction 'Ruby style'" in thread["notes"][0]["body"]


def test_a_finding_cannot_claim_an_instruction_nobody_gave_for_its_file(two_languages: Stack) -> None:
    finding = {
        "path": "lib/refunds.py",
        "line": 1,
        "side": "new",
        "severity": "low",
        "category": "style",
        "title": "Name the refund reason",
        "body": "Why.",
        "confidence": 0.9,
        "instruction": "Ruby style",  # given for *.rb only
    }
    two_languages.gateway.responder = lambda request: json.dumps({"findings": [finding]})
    two_languages.review(verify=False)
    (thread,) = [
        d
        for d in two_languages.gitlab.discussions(two_languages.pid, two_languages.iid)
        if d["notes"][0].get("position")
    ]
    assert "instruction" not in thread["notes"][0]["body"]


# -- the second look ---------------------------------------------------------------------------------


def _two_findings(request: dict[str, Any]) -> str:
    """The review call finds two things; the second look keeps the first and drops the second."""
    user = request["messages"][-1]["content"]
    if user.startswith("<findings>"):
        return json.dumps(
            {
                "verdicts": [
                    {"id": 1, "keep": True, "reason": "The factor changes every total."},
                    {"id": 2, "keep": False, "reason": "The rate is a class constant: no None here."},
                ]
            }
        )
    findings = [
        {
            "path": "app/billing.py",
            "line": 50,
            "severity": "high",
            "category": "style",
            "title": "Doubles every step",
        },
        {
            "path": "app/billing.py",
            "line": 74,
            "severity": "medium",
            "category": "style",
            "title": "rate may be None",
        },
    ]
    return json.dumps(
        {"findings": [{**f, "side": "new", "body": "Why.", "confidence": 0.9} for f in findings]}
    )


def test_the_second_look_sees_the_code_around_each_finding_and_what_it_drops_is_never_posted(
    billing: Stack,
) -> None:
    from reviewer.app import metrics
    from reviewer.app.review_metrics import PrometheusObserver

    billing.gateway.responder = _two_findings
    before = metrics.REGISTRY.get_sample_value(
        "reviewer_second_look_findings_total", {"team": "unknown", "verdict": "dropped"}
    )
    config = Settings(
        llm_base_url=billing.gateway.base_url,
        llm_api_key="k",
        llm_max_attempts=1,
        llm_lite_model="lite-model",
        _env_file=None,
    )
    client = GitLabClient(billing.gitlab.url, billing.gitlab.token, max_retries=1)
    outcome = review_merge_request(
        build_engine(config),
        client,
        ReviewRequest(billing.pid, billing.iid, "manual"),
        observer=PrometheusObserver(),
    )

    assert outcome.status == "reviewed" and outcome.inline == 1
    (thread,) = [
        d for d in billing.gitlab.discussions(billing.pid, billing.iid) if d["notes"][0].get("position")
    ]
    assert "Doubles every step" in thread["notes"][0]["body"]
    assert "rate may be None" not in json.dumps(billing.gitlab.notes(billing.pid, billing.iid))
    assert "1 finding dropped on a second look." in billing.summary()
    (look,) = [r for r in billing.gateway.requests if r.messages[-1]["content"].startswith("<findings>")]
    assert look.model == "lite-model"  # REVIEWER_LLM_VERIFY_MODEL unset: the lite model
    sent = look.messages[-1]["content"]
    assert (
        "   50>         total += step_40(order) * 2" in sent
        and "   46          total += step_36(order)" in sent
    )
    assert "   74>         base = amount * self.rate * 1.2" in sent and PASSWORD not in sent
    after = metrics.REGISTRY.get_sample_value(
        "reviewer_second_look_findings_total", {"team": "unknown", "verdict": "dropped"}
    )
    assert (after or 0) - (before or 0) == 1
    assert outcome.usage.calls == 2  # the review's call and the second look's, both counted


def test_a_failed_second_look_keeps_every_finding_and_the_summary_says_so(billing: Stack) -> None:
    def review_then_fail(request: dict[str, Any]) -> Any:
        if request["messages"][-1]["content"].startswith("<findings>"):
            return error(503)
        return _two_findings(request)

    billing.gateway.responder = review_then_fail
    outcome = billing.review(llm_verify_model="verify-model")

    assert outcome.status == "reviewed" and outcome.inline == 2
    summary = billing.summary()
    assert "dropped on a second look" not in summary
    assert "Not checked: the second look failed" in summary and "every finding was kept" in summary
    assert [
        r.model for r in billing.gateway.requests if r.messages[-1]["content"].startswith("<findings>")
    ] == ["verify-model"]


def test_the_second_look_is_off_by_configuration(billing: Stack) -> None:
    billing.gateway.responder = _two_findings
    outcome = billing.review(verify=False)
    assert outcome.inline == 2
    assert not any(r.messages[-1]["content"].startswith("<findings>") for r in billing.gateway.requests)
