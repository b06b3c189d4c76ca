"""Prompt templates (Jinja2, in the prompts directory) and per-team overrides.

Layout of the prompts directory::

    system.j2         the shared instructions and the answer contract; includes <aspect>.j2
    security.j2       what the security aspect flags, its severity rules, what it must not flag
    style.j2          the same for style
    user.j2           the per-chunk message: MR title, service context, the diff as data
    teams/<team>.yaml a team's overrides (see teams/example.yaml)

A repository may add ``.ai-review.yaml`` at its root with the same keys; it refines the team's
file. Rules its maintainers asked the bot to remember (``/ai-review remember``) are a policy's
``rules``: shown to the model after the team's instructions. Every rendered prompt carries a
version: a hash of the templates, the overrides and the rules that produced it, recorded with each
review so that a prompt change can be measured before it ships.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from reviewer.errors import ConfigError
from reviewer.review.findings import Severity, Thresholds

ASPECTS = ("security", "style")
_ASPECT_TITLES = {"security": "security", "style": "correctness and style"}
_POLICY_KEYS = {
    "instructions",
    "aspects",
    "min_severity",
    "min_confidence",
    "max_comments",
    "model",
    "ignore_paths",
    "dismiss_words",
}
_MAX_INSTRUCTIONS = 2000


@dataclass(frozen=True, slots=True)
class TeamPolicy:
    """What a team (and its repository's ``.ai-review.yaml``) asks of the reviewer."""

    team: str | None = None
    instructions: str = ""
    aspects: tuple[str, ...] = ASPECTS
    thresholds: Thresholds = field(default_factory=Thresholds)
    model: str | None = None
    ignore_paths: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # the override files applied, for the record
    # rules a repository's maintainers asked for (``/ai-review remember``): in the prompt and its version
    rules: tuple[str, ...] = ()
    dismiss_words: tuple[str, ...] = ()  # a reply holding one says the finding is wrong or won't be fixed


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    messages: list[dict[str, str]]
    version: str


class PromptStore:
    def __init__(self, root: Path, *, defaults: Thresholds | None = None) -> None:
        if not (root / "system.j2").is_file():
            raise ConfigError(f"REVIEWER_PROMPTS_DIR={root} has no system.j2")
        self.root = root
        self._defaults = defaults or Thresholds()
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(str(root)),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
        )
        self._template_hash = _hash_files(sorted(root.glob("*.j2")))

    def policy(self, team: str | None, repo_overrides: Mapping[str, Any] | None = None) -> TeamPolicy:
        policy = TeamPolicy(team=team, thresholds=self._defaults)
        if team:
            path = self.root / "teams" / f"{_team_file_name(team)}.yaml"
            if path.is_file():
                policy = apply_overrides(policy, _load_yaml(path), source=f"teams/{path.name}")
        if repo_overrides:
            policy = apply_overrides(policy, repo_overrides, source=".ai-review.yaml")
        return policy

    def render(
        self,
        aspect: str,
        policy: TeamPolicy,
        *,
        diff: str,
        title: str,
        context: str = "",
    ) -> RenderedPrompt:
        """The messages for one model call. ``aspect`` may join several (``"security+style"``):
        one call then carries each aspect's rules, and each finding's category tells them apart."""
        aspects = aspect.split("+")
        try:
            system = self._env.get_template("system.j2").render(
                aspects=aspects,
                focus=_joined([_ASPECT_TITLES.get(a, a) for a in aspects]),
                categories=" | ".join(f'"{a}"' for a in aspects),
                instructions=policy.instructions,
                rules=policy.rules,
            )
            user = self._env.get_template("user.j2").render(
                title=_one_line(title, 200), context=context, diff=diff
            )
        except TemplateError as exc:
            raise ConfigError(f"prompt template error in {self.root}: {exc}") from exc
        return RenderedPrompt(
            messages=[
                {"role": "system", "content": system.strip()},
                {"role": "user", "content": user.strip()},
            ],
            version=self.version(aspect, policy),
        )

    def version(self, aspect: str, policy: TeamPolicy) -> str:
        overrides = json.dumps(
            [aspect, policy.instructions, policy.aspects, policy.model, policy.sources]
            + ([list(policy.rules)] if policy.rules else []),  # no rules: the versions of before
            sort_keys=True,
        )
        return hashlib.sha256((self._template_hash + overrides).encode()).hexdigest()[:12]


def _team_file_name(team: str) -> str:
    """'group:default/payments' -> 'payments' (the catalog's entity ref, or a bare name)."""
    return team.rsplit("/", 1)[-1].split(":")[-1]


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _load_yaml(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} must hold a mapping of settings")
    return data


def parse_overrides(text: str, *, source: str) -> Mapping[str, Any]:
    """Read a repository's ``.ai-review.yaml``; invalid content raises ConfigError naming it."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source} must hold a mapping of settings")
    return data


def apply_overrides(policy: TeamPolicy, raw: Mapping[str, Any], *, source: str) -> TeamPolicy:
    """``policy`` refined by the settings of one more file (``source`` names it in the record)."""
    unknown = set(raw) - _POLICY_KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}; known: {sorted(_POLICY_KEYS)}")
    thresholds = policy.thresholds
    try:
        if "min_severity" in raw:
            thresholds = replace(thresholds, min_severity=Severity(str(raw["min_severity"]).lower()))
        if "min_confidence" in raw:
            thresholds = replace(thresholds, min_confidence=float(raw["min_confidence"]))
        if "max_comments" in raw:
            thresholds = replace(thresholds, max_comments=max(0, int(raw["max_comments"])))
        aspects = tuple(str(a) for a in raw.get("aspects", policy.aspects))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    unknown_aspects = set(aspects) - set(ASPECTS)
    if unknown_aspects:
        raise ConfigError(f"{source}: unknown aspects {sorted(unknown_aspects)}; known: {list(ASPECTS)}")
    instructions = str(raw.get("instructions") or "").strip()[:_MAX_INSTRUCTIONS]
    return replace(
        policy,
        instructions=" ".join(filter(None, [policy.instructions, instructions])),
        aspects=aspects,
        thresholds=thresholds,
        model=str(raw["model"]) if raw.get("model") else policy.model,
        ignore_paths=policy.ignore_paths + tuple(str(p) for p in raw.get("ignore_paths") or ()),
        sources=(*policy.sources, source),
        dismiss_words=policy.dismiss_words + tuple(str(w) for w in raw.get("dismiss_words") or ()),
    )


def describe_prompts(store: PromptStore, policy: TeamPolicy, aspect: str = "security+style") -> str:
    """What a team's reviews ask the model (``reviewer prompts show``): the version, the override
    files applied, the thresholds, then each message, rendered around a placeholder diff."""
    prompt = store.render(aspect, policy, diff="## path/to/file.py\n@@ def f():\n12 + code", title="<title>")
    lines = [
        f"# {aspect} for {policy.team or 'the default team'}: version {prompt.version}; "
        f"applied {', '.join(policy.sources) or 'no overrides'}; thresholds {policy.thresholds}"
    ]
    lines.extend(f"\n## {message['role']}\n{message['content']}" for message in prompt.messages)
    return "\n".join(lines)


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
