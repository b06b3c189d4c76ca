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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from reviewer.errors import ConfigError
from reviewer.review.findings import Severity, Thresholds
from reviewer.review.instructions import Instruction, applicable

ASPECTS = ("security", "style")
_ASPECT_TITLES = {"security": "security", "style": "correctness and style"}
_MAX_INSTRUCTIONS = 2000
DEFAULT_BLOCKING: Mapping[str, frozenset[Severity]] = {
    "security": frozenset({Severity.CRITICAL, Severity.HIGH})
}
DEFAULT_OVERRIDE_LABEL = "ai-review::override"


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """A setting of an override file that was not applied, and why; the rest of the file was."""

    source: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.reason}"


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
    named: tuple[Instruction, ...] = ()  # the repository's instructions, each for the files it names
    # rules a repository's maintainers asked for (``/ai-review remember``): in the prompt and its version
    rules: tuple[str, ...] = ()
    dismiss_words: tuple[str, ...] = ()  # a reply holding one says the finding is wrong or won't be fixed
    # which severities of which aspect block the merge request ("changes requested")
    blocking: Mapping[str, frozenset[Severity]] = field(default_factory=lambda: dict(DEFAULT_BLOCKING))
    approve: bool = False  # approve the MR when the verdict is clean
    review_drafts: bool = False  # review draft MRs automatically too
    override_label: str = DEFAULT_OVERRIDE_LABEL  # the break-glass label
    problems: tuple[ConfigProblem, ...] = ()  # settings not applied, named in the summary

    def blocks(self, aspect: str, severity: Severity) -> bool:
        return severity in self.blocking.get(aspect, frozenset())

    def instructions_for(self, paths: Sequence[str]) -> list[Instruction]:
        """The named instructions that apply to at least one of ``paths``."""
        return applicable(self.named, paths)


def with_instructions(policy: TeamPolicy, named: Sequence[Instruction]) -> TeamPolicy:
    """``policy`` with the repository's named instructions (Duo's file, AGENTS.md) added."""
    if not named:
        return policy
    sources = tuple(dict.fromkeys(i.source for i in named if i.source not in policy.sources))
    return replace(policy, named=(*policy.named, *named), sources=(*policy.sources, *sources))


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
                source = f"teams/{path.name}"
                try:
                    policy = apply_overrides(policy, _load_yaml(path), source=source)
                except ConfigError as exc:  # the review goes on with the defaults, and says why
                    reason = "not valid YAML" if "YAML" in str(exc) else "not a mapping of settings"
                    problem = ConfigProblem(source, "(file)", f"{reason}; the defaults apply")
                    policy = replace(policy, problems=(*policy.problems, problem))
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
        paths: Sequence[str] | None = None,
    ) -> RenderedPrompt:
        """The messages for one model call. ``aspect`` may join several (``"security+style"``):
        one call then carries each aspect's rules, and each finding's category tells them apart.
        ``paths`` are the call's files: it carries the named instructions that apply to them (all
        of them when None), each saying which of the files it is for when not all."""
        aspects = aspect.split("+")
        named = policy.named if paths is None else policy.instructions_for(paths)
        try:
            system = self._env.get_template("system.j2").render(
                aspects=aspects,
                focus=_joined([_ASPECT_TITLES.get(a, a) for a in aspects]),
                categories=" | ".join(f'"{a}"' for a in aspects),
                instructions=policy.instructions,
                named=[
                    {"name": json.dumps(i.name), "text": i.text, "files": _files_for(i, paths)} for i in named
                ],
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

    def render_second_look(self, findings: str) -> RenderedPrompt:
        """The messages of the second look (``reviewer.review.verify``): ``verify.j2`` as the
        system message, the findings with their code as the user's."""
        if not (self.root / "verify.j2").is_file():
            raise ConfigError(f"REVIEWER_PROMPTS_DIR={self.root} has no verify.j2 (the second look's prompt)")
        try:
            system = self._env.get_template("verify.j2").render()
        except TemplateError as exc:
            raise ConfigError(f"prompt template error in {self.root}: {exc}") from exc
        return RenderedPrompt(
            messages=[
                {"role": "system", "content": system.strip()},
                {"role": "user", "content": f"<findings>\n{findings}\n</findings>"},
            ],
            version=hashlib.sha256(f"{self._template_hash}second-look".encode()).hexdigest()[:12],
        )

    def version(self, aspect: str, policy: TeamPolicy) -> str:
        """A hash of the templates and of everything the team and the repository ask, their named
        instructions included: a change to any of them is a new version."""
        named = [[i.name, i.text, i.file_filters] for i in policy.named]
        overrides = json.dumps(
            [aspect, policy.instructions, policy.aspects, policy.model, policy.sources, named]
            + ([list(policy.rules)] if policy.rules else []),  # no rules: the versions of before
            sort_keys=True,
        )
        return hashlib.sha256((self._template_hash + overrides).encode()).hexdigest()[:12]


def _files_for(instruction: Instruction, paths: Sequence[str] | None) -> str:
    """Which of a call's files an instruction is for, when it is not for all of them."""
    if paths is None:
        return ", ".join(instruction.file_filters)
    chosen = [p for p in paths if instruction.applies_to(p)]
    return "" if len(chosen) == len(paths) else ", ".join(chosen)


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
    """Read a repository's ``.ai-review.yaml``; a file that is not a YAML mapping raises
    ConfigError naming it (its keys are checked one by one by ``apply_overrides``)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source} must hold a mapping of settings")
    return data


def apply_overrides(policy: TeamPolicy, raw: Mapping[str, Any], *, source: str) -> TeamPolicy:
    """``policy`` refined by the settings of one more file (``source`` names it in the record).

    Each key is applied on its own: an unknown key or a bad value is recorded in
    ``policy.problems`` (the summary names it) and the rest of the file still applies."""
    problems: list[ConfigProblem] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key if isinstance(key, str) else _shown(key)
        parse = _KEYS.get(name)
        if parse is None:
            problems.append(
                ConfigProblem(source, name, f"unknown key, ignored (known: {', '.join(sorted(_KEYS))})")
            )
            continue
        try:
            values[name] = parse(value)
        except (ValueError, TypeError) as exc:
            problems.append(ConfigProblem(source, name, f"{exc}; ignored"))
    thresholds = policy.thresholds
    for name in ("min_severity", "min_confidence", "max_comments"):
        if name in values:
            thresholds = replace(thresholds, **{name: values[name]})
    instructions = values.get("instructions", "")
    return replace(
        policy,
        instructions=" ".join(filter(None, [policy.instructions, instructions])),
        aspects=values.get("aspects", policy.aspects),
        thresholds=thresholds,
        model=values.get("model") or policy.model,
        ignore_paths=policy.ignore_paths + values.get("ignore_paths", ()),
        blocking={**policy.blocking, **values.get("blocking", {})},
        approve=values.get("approve", policy.approve),
        review_drafts=values.get("review_drafts", policy.review_drafts),
        override_label=values.get("override_label", policy.override_label),
        sources=(*policy.sources, source),
        dismiss_words=policy.dismiss_words + values.get("dismiss_words", ()),
        problems=(*policy.problems, *problems),
    )


def _shown(value: Any) -> str:
    """A value as a problem may quote it: a short scalar, else only its type (a YAML alias can
    make a small file a huge structure)."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else text[:39] + "…"
    return f"a {type(value).__name__}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise TypeError(f"{_shown(value)} is not text")
    return str(value).strip()[:_MAX_INSTRUCTIONS]


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"{_shown(value)} is not a list")
    return tuple(_text(v) for v in value)


def _aspects(value: Any) -> tuple[str, ...]:
    aspects = _texts(value)
    unknown = [a for a in aspects if a not in ASPECTS]
    if unknown:
        raise ValueError(f"unknown aspects {', '.join(map(_shown, unknown))} (known: {', '.join(ASPECTS)})")
    return aspects


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value).strip().lower()) if isinstance(value, str) else Severity(value)
    except ValueError:
        raise ValueError(
            f"{_shown(value)} is not a severity (one of {', '.join(s.value for s in Severity)})"
        ) from None


def _number(value: Any, kind: type[int] | type[float], low: float, high: float) -> Any:
    whole = kind is int
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        raise TypeError(f"{_shown(value)} is not {'a whole number' if whole else 'a number'}")
    if not low <= value <= high:
        raise ValueError(f"{_shown(value)} is outside {low:g}..{high:g}")
    return kind(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{_shown(value)} is not true or false")
    return value


def _blocking(value: Any) -> dict[str, frozenset[Severity]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{_shown(value)} is not a mapping of aspect to severities")
    unknown = [a for a in value if a not in ASPECTS]
    if unknown:
        raise ValueError(f"unknown aspects {', '.join(map(_shown, unknown))} (known: {', '.join(ASPECTS)})")
    return {str(aspect): frozenset(_severity(s) for s in _texts(levels)) for aspect, levels in value.items()}


def _label(value: Any) -> str:
    label = _text(value)
    if not label or len(label) > 255:
        raise ValueError(f"{_shown(value)} is not a label name")
    return label


_KEYS: dict[str, Any] = {
    "instructions": _text,
    "aspects": _aspects,
    "min_severity": _severity,
    "min_confidence": lambda v: _number(v, float, 0.0, 1.0),
    "max_comments": lambda v: _number(v, int, 0, 1000),
    "model": _text,
    "ignore_paths": _texts,
    "blocking": _blocking,
    "approve": _flag,
    "review_drafts": _flag,
    "override_label": _label,
    "dismiss_words": _texts,
}


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
