"""reviewer.review.instructions: GitLab Duo's review instructions file and AGENTS.md, each
instruction for the files it names; and what the model is told of them."""

from __future__ import annotations

import json

import pytest

from reviewer.app.config import SHIPPED_PROMPTS
from reviewer.errors import ConfigError
from reviewer.review.findings import parse_answer
from reviewer.review.instructions import (
    DUO_FILE,
    Instruction,
    agents_candidates,
    parse_duo,
    read_instructions,
)
from reviewer.review.prompts import PromptStore, with_instructions

DUO = """\
instructions:
  - name: Ruby style
    fileFilters:
      - "*.rb"
      - "!spec/**"
    instructions: |
      1. Prefer keyword arguments for methods with three or more parameters.
  - name: Go tests
    fileFilters: "**/*_test.go"
    instructions: Use testify.
"""


def test_the_duo_file_as_gitlab_documents_it() -> None:
    ruby, go = parse_duo(DUO)
    assert ruby == Instruction(
        "Ruby style",
        "1. Prefer keyword arguments for methods with three or more parameters.",
        ("*.rb", "!spec/**"),
        DUO_FILE,
    )
    assert go.file_filters == ("**/*_test.go",)


@pytest.mark.parametrize(
    ("path", "applies"),
    [
        ("app/models/user.rb", True),  # *.rb in any directory
        ("user.rb", True),
        ("spec/models/user_spec.rb", False),  # excluded
        ("app/spec/helper.rb", True),  # spec/** is anchored at the root
        ("app/models/user.py", False),
    ],
)
def test_file_filters_include_and_exclude(path: str, applies: bool) -> None:
    ruby, _ = parse_duo(DUO)
    assert ruby.applies_to(path) is applies


def test_an_exclusion_wins_wherever_it_is_written() -> None:
    first = Instruction("x", "t", ("!vendor/**", "*.rb"))
    assert not first.applies_to("vendor/gem.rb") and first.applies_to("lib/gem.rb")
    assert Instruction("all", "t").applies_to("anything/at/all.txt")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("instructions: [unclosed\n", "not valid YAML"),
        ("rules: []\n", '"instructions" list'),
        ("instructions:\n  - just text\n", "not a mapping"),
        ("instructions:\n  - name: x\n", "needs a name and instructions"),
        ("instructions:\n  - {name: x, instructions: y, fileFilters: {a: 1}}\n", "list of globs"),
    ],
)
def test_a_broken_duo_file_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_duo(text)


AGENTS = "# Agents\nRun make.\n## Review guidelines\n{rule}\n## Build\nmake all\n"
FILES = {
    "AGENTS.md": AGENTS.format(rule="No raw SQL."),
    "app/AGENTS.md": AGENTS.format(rule="Controllers stay thin."),
    "app/models/AGENTS.md": AGENTS.format(rule="Models validate presence."),
    "lib/AGENTS.md": "# Agents\nRun make.\n",  # nothing about review
}


def test_agents_md_the_root_one_and_the_nearest_above_each_changed_file() -> None:
    paths = ["app/models/user.rb", "app/controllers/users.rb", "lib/util.rb", "README.md"]
    reads: list[str] = []

    def read(path: str) -> str | None:
        reads.append(path)
        return FILES.get(path)

    found = read_instructions(read, paths)

    by_name = {i.name: i for i in found.items}
    assert list(by_name) == ["AGENTS.md", "app/AGENTS.md", "app/models/AGENTS.md"]
    assert by_name["AGENTS.md"].text == "No raw SQL."  # only the review section
    applying = {path: [i.name for i in found.items if i.applies_to(path)] for path in paths}
    assert applying == {
        "app/models/user.rb": ["AGENTS.md", "app/models/AGENTS.md"],  # the nearest, not app/'s
        "app/controllers/users.rb": ["AGENTS.md", "app/AGENTS.md"],
        "lib/util.rb": ["AGENTS.md"],  # lib/AGENTS.md says nothing about review
        "README.md": ["AGENTS.md"],
    }
    assert found.notes == ("lib/AGENTS.md has no section whose heading names review: not applied",)
    assert sorted(reads) == sorted(set(reads))  # each file read once
    assert set(reads) == {DUO_FILE, *agents_candidates(paths)}


def test_a_broken_duo_file_is_noted_and_agents_md_still_applies() -> None:
    found = read_instructions({DUO_FILE: "instructions: 3\n", **FILES}.get, ["x.py"])
    assert [i.name for i in found.items] == ["AGENTS.md"]
    assert found.notes[0].startswith(f"{DUO_FILE} not applied: ")


def test_each_call_carries_only_the_instructions_for_its_files_and_the_version_counts_them() -> None:
    store = PromptStore(SHIPPED_PROMPTS)
    base = store.policy(None)
    policy = with_instructions(base, parse_duo(DUO))

    def system(paths: list[str]) -> str:
        prompt = store.render("security+style", policy, diff="", title="t", paths=paths)
        return prompt.messages[0]["content"]

    assert "Ruby style" not in system(["main.py"]) and '"instruction"' not in system(["main.py"])
    ruby_only = system(["app/user.rb"])
    assert '- "Ruby style": 1. Prefer keyword arguments' in ruby_only and '"instruction"' in ruby_only
    assert '- "Ruby style" (for app/user.rb): ' in system(["app/user.rb", "main.py"])
    assert policy.sources == (DUO_FILE,)
    changed = with_instructions(base, [Instruction("Ruby style", "Something else.", ("*.rb",), DUO_FILE)])
    versions = {store.version("security", p) for p in (base, policy, changed)}
    assert len(versions) == 3


def test_the_answer_may_name_an_instruction_and_need_not() -> None:
    item = {"path": "a.rb", "line": 1, "severity": "low", "title": "t"}
    answer = json.dumps({"findings": [{**item, "instruction": " Ruby style "}, item]})
    named, plain = parse_answer(answer, "style").findings
    assert named.instruction == "Ruby style" and plain.instruction is None
