from __future__ import annotations

from pathlib import Path

import pytest

from reviewer.app.config import SHIPPED_PROMPTS
from reviewer.errors import ConfigError
from reviewer.review.findings import Severity
from reviewer.review.prompts import PromptStore, parse_overrides


def test_shipped_prompts_render_stable_part_first_and_diff_last() -> None:
    store = PromptStore(SHIPPED_PROMPTS)
    prompt = store.render("security", store.policy(None), diff="## a.py\n  1 + x", title="Add x")
    system, user = prompt.messages
    assert system["role"] == "system" and "security" in system["content"]
    assert "Not: " in system["content"]  # what the aspect must not flag
    assert user["content"].endswith("</diff>") and "## a.py" in user["content"]
    assert len(prompt.version) == 12


def test_each_aspect_has_its_own_rules_and_version() -> None:
    store = PromptStore(SHIPPED_PROMPTS)
    policy = store.policy(None)
    security = store.render("security", policy, diff="", title="t")
    style = store.render("style", policy, diff="", title="t")
    assert security.messages[0]["content"] != style.messages[0]["content"]
    assert security.version != style.version


def _store(tmp_path: Path, team_yaml: str) -> PromptStore:
    root = tmp_path / "prompts"
    root.mkdir()
    for template in SHIPPED_PROMPTS.glob("*.j2"):
        (root / template.name).write_text(template.read_text())
    (root / "teams").mkdir()
    (root / "teams" / "payments.yaml").write_text(team_yaml)
    return PromptStore(root)


def test_team_overrides_apply_and_change_the_version(tmp_path: Path) -> None:
    store = _store(tmp_path, "instructions: Money is Decimal.\naspects: [security]\nmin_severity: high\n")
    policy = store.policy("group:default/payments")
    assert policy.aspects == ("security",)
    assert policy.thresholds.min_severity is Severity.HIGH
    rendered = store.render("security", policy, diff="", title="t")
    assert "Money is Decimal." in rendered.messages[0]["content"]
    assert rendered.version != store.render("security", store.policy(None), diff="", title="t").version


def test_repository_overrides_refine_the_team(tmp_path: Path) -> None:
    store = _store(tmp_path, "max_comments: 5\n")
    policy = store.policy(
        "payments", parse_overrides("max_comments: 2\nignore_paths: ['docs/**']", source="x")
    )
    assert policy.thresholds.max_comments == 2 and policy.ignore_paths == ("docs/**",)


@pytest.mark.parametrize(
    "text", ["aspects: [poetry]", "colour: blue", "- a list", "min_severity: huge", "a: [b"]
)
def test_invalid_overrides_are_refused_with_the_reason(tmp_path: Path, text: str) -> None:
    store = _store(tmp_path, "")
    with pytest.raises(ConfigError):
        store.policy("payments", parse_overrides(text, source=".ai-review.yaml"))


def test_the_diff_cannot_break_out_of_the_template(tmp_path: Path) -> None:
    store = PromptStore(SHIPPED_PROMPTS)
    prompt = store.render("style", store.policy(None), diff="{{ 7*7 }} {% raw %}", title="{{ config }}")
    assert "{{ 7*7 }}" in prompt.messages[1]["content"]
