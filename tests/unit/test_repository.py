"""A repository's own rules: the owner team from catalog-info.yaml, .ai-review.yaml, and the review
sections of AGENTS.md; a broken file is noted and skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reviewer.app.config import SHIPPED_PROMPTS
from reviewer.review.prompts import PromptStore
from reviewer.review.repository import repository_rules, review_guidelines

CATALOG = "kind: Component\nmetadata:\n  name: app\nspec:\n  owner: group:default/payments\n"


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    folder = tmp_path / "prompts"
    shutil.copytree(SHIPPED_PROMPTS, folder)
    (folder / "teams" / "payments.yaml").write_text("instructions: Money is Decimal.\nmax_comments: 3\n")
    return PromptStore(folder)


def test_review_guidelines_take_the_sections_that_name_review_with_their_subsections() -> None:
    text = (
        "# Project\nRun make.\n"
        "## Code review\nFlag raw SQL.\n### Security\nNo secrets.\n"
        "## Build\nmake all\n"
        "```md\n## Review in a code block\nnot a heading\n```\n"
        "## REVIEW guidelines ##\nKeep it short.\n"
    )
    assert review_guidelines(text) == "Flag raw SQL.\n### Security\nNo secrets.\nKeep it short."


def test_review_guidelines_are_empty_without_such_a_section() -> None:
    assert review_guidelines("# Agents\nRun make test.\n```\n# review\n```\n") == ""


def test_the_owner_team_and_every_file_apply_in_order(store: PromptStore) -> None:
    files = {
        "catalog-info.yaml": CATALOG,
        ".ai-review.yaml": "instructions: Prefer pathlib.\nmax_comments: 5\n",
        "AGENTS.md": "# Agents\nRun make.\n## Review guidelines\nQueries go through db.execute.\n",
    }
    rules = repository_rules(store, files.get)
    assert rules.policy.team == "group:default/payments"
    assert rules.policy.sources == ("teams/payments.yaml", ".ai-review.yaml", "AGENTS.md")
    assert rules.policy.instructions == "Money is Decimal. Prefer pathlib. Queries go through db.execute."
    assert rules.policy.thresholds.max_comments == 5
    assert rules.service is not None and rules.service.name == "app" and rules.notes == ()


def test_a_team_given_wins_over_the_catalog(store: PromptStore) -> None:
    rules = repository_rules(store, {"catalog-info.yaml": CATALOG}.get, team="search")
    assert rules.policy.team == "search" and rules.policy.sources == ()


@pytest.mark.parametrize(
    ("config", "note"),
    [
        ("aspects: [poetry]\n", "not applied: .ai-review.yaml: aspects: unknown aspects 'poetry'"),
        ("nonsense: 1\n", "not applied: .ai-review.yaml: nonsense: unknown key"),
        ("- a list\n", ".ai-review.yaml not applied: "),
        ("key: [unclosed\n", ".ai-review.yaml not applied: "),
    ],
)
def test_a_broken_repository_file_is_noted_and_the_team_rules_stay(
    store: PromptStore, config: str, note: str
) -> None:
    files = {"catalog-info.yaml": CATALOG, ".ai-review.yaml": config, "AGENTS.md": "# Agents\nRun make.\n"}
    rules = repository_rules(store, files.get)
    assert rules.policy.sources[0] == "teams/payments.yaml" and rules.policy.thresholds.max_comments == 3
    assert rules.notes[0].startswith(note)
    assert rules.notes[1] == "AGENTS.md has no section whose heading names review: not applied"


def test_a_broken_team_file_is_noted_for_the_platform(store: PromptStore) -> None:
    (store.root / "teams" / "payments.yaml").write_text("aspects: [poetry]\n")
    rules = repository_rules(store, {"catalog-info.yaml": CATALOG}.get)
    assert rules.notes[0].startswith("not applied: teams/payments.yaml: aspects: unknown aspects 'poetry'")
    assert rules.policy.aspects == ("security", "style")


def test_a_repository_without_files_gets_the_default_rules(store: PromptStore) -> None:
    rules = repository_rules(store, lambda path: None)
    assert (rules.policy.team, rules.policy.sources, rules.service, rules.notes) == (None, (), None, ())
