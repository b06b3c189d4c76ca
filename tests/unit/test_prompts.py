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


@pytest.mark.parametrize("text", ["- a list", "a: [b"])
def test_a_file_that_is_no_yaml_mapping_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ConfigError, match=r"\.ai-review\.yaml"):
        parse_overrides(text, source=".ai-review.yaml")


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("aspects: [poetry]", "aspects", "unknown aspects 'poetry'"),
        ("colour: blue", "colour", "unknown key"),
        ("approve: 'yes please'", "approve", "is not true or false"),
        ("min_severity: huge", "min_severity", "'huge' is not a severity"),
        ("max_comments: -3", "max_comments", "outside 0..1000"),
        ("blocking: {security: [urgent]}", "blocking", "'urgent' is not a severity"),
        ("blocking: {poetry: [high]}", "blocking", "unknown aspects 'poetry'"),
        ("ignore_paths: docs/**", "ignore_paths", "is not a list"),
    ],
)
def test_an_unknown_key_or_a_bad_value_is_named_and_the_rest_applies(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    store = _store(tmp_path, "")
    policy = store.policy(
        "payments", parse_overrides(f"{text}\nmin_confidence: 0.8\n", source=".ai-review.yaml")
    )
    (problem,) = [p for p in policy.problems if p.key == key]
    assert problem.source == ".ai-review.yaml" and reason in problem.reason and "ignored" in problem.reason
    assert policy.thresholds.min_confidence == 0.8  # the rest of the file applied


def test_a_quoted_value_names_its_type_not_its_expansion(tmp_path: Path) -> None:
    laughs = (
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nmodel: [*b, *b, *b]\n"
    )
    policy = _store(tmp_path, "").policy("payments", parse_overrides(laughs, source=".ai-review.yaml"))
    assert [str(p) for p in policy.problems if p.key == "model"] == [
        ".ai-review.yaml: model: a list is not text; ignored"
    ]


def test_blocking_approval_drafts_and_the_override_label_per_team_and_repository(tmp_path: Path) -> None:
    store = _store(tmp_path, "approve: true\nblocking: {style: [critical]}\noverride_label: hotfix\n")
    policy = store.policy("payments")
    assert policy.approve and policy.override_label == "hotfix" and not policy.review_drafts
    assert policy.blocks("security", Severity.HIGH) and policy.blocks("style", Severity.CRITICAL)
    assert not policy.blocks("security", Severity.MEDIUM) and not policy.blocks("style", Severity.HIGH)
    repo = parse_overrides("review_drafts: true\nblocking: {security: []}\n", source=".ai-review.yaml")
    refined = store.policy("payments", repo)
    assert refined.review_drafts and not refined.blocks("security", Severity.CRITICAL)
    assert refined.blocks("style", Severity.CRITICAL) and refined.problems == ()
    assert store.policy(None).blocking == {"security": {Severity.CRITICAL, Severity.HIGH}}


def test_a_broken_team_file_is_named_and_the_defaults_apply(tmp_path: Path) -> None:
    policy = _store(tmp_path, "a: [b").policy("payments")
    assert [str(p) for p in policy.problems] == [
        "teams/payments.yaml: (file): not valid YAML; the defaults apply"
    ]
    assert policy.aspects == ("security", "style")


def test_the_diff_cannot_break_out_of_the_template(tmp_path: Path) -> None:
    store = PromptStore(SHIPPED_PROMPTS)
    prompt = store.render("style", store.policy(None), diff="{{ 7*7 }} {% raw %}", title="{{ config }}")
    assert "{{ 7*7 }}" in prompt.messages[1]["content"]
