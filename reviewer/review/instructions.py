"""Review instructions teams already write, each for the files it names.

- GitLab Duo's ``.gitlab/duo/mr-review-instructions.yaml``: named groups, each with ``fileFilters``
  (globs; one starting with ``!`` excludes) and its ``instructions`` text::

      instructions:
        - name: Ruby style
          fileFilters: ["*.rb", "!spec/**"]
          instructions: |
            Prefer keyword arguments for methods with three or more parameters.

- ``AGENTS.md``: the root one for every file, and for each changed file the nearest one in the
  directories above it (``app/AGENTS.md`` for ``app/models/user.rb`` unless ``app/models/`` has
  its own). Only their sections whose heading names review ("## Review guidelines", the convention
  coding agents' own reviewers follow) are review instructions: the rest speaks to coding agents
  about builds and tests, and would cost tokens on every call.

Files are read through a callable (path -> text, or None when absent) at the revision the caller
chooses: the bot reads them at an MR's target branch, so a change cannot rewrite the rules of its
own review. Globs follow .gitignore's rules (pathspec, as the planner's): ``*.rb`` matches in any
directory, ``spec/**`` is anchored at the root; a file an exclusion matches is never included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import yaml
from pathspec import GitIgnoreSpec

from reviewer.errors import ConfigError
from reviewer.review.files import read_all

__all__ = [
    "AGENTS_FILE",
    "DUO_FILE",
    "Instruction",
    "RepositoryInstructions",
    "agents_candidates",
    "applicable",
    "describe_instructions",
    "parse_duo",
    "read_instructions",
    "review_guidelines",
]

DUO_FILE = ".gitlab/duo/mr-review-instructions.yaml"
AGENTS_FILE = "AGENTS.md"
MAX_TEXT = 2000  # characters of one instruction's text; the rest is cut
MAX_INSTRUCTIONS = 30
_MAX_NAME = 80


@dataclass(frozen=True, slots=True)
class Instruction:
    name: str  # how a finding names it: "Ruby style", "AGENTS.md", "app/AGENTS.md"
    text: str
    file_filters: tuple[str, ...] = ()  # none: every file
    source: str = ""  # the file it was read from

    def applies_to(self, path: str) -> bool:
        if not self.file_filters:
            return True
        include, exclude = _specs(self.file_filters)
        return include.match_file(path) and not exclude.match_file(path)


@dataclass(frozen=True, slots=True)
class RepositoryInstructions:
    items: tuple[Instruction, ...] = ()
    notes: tuple[str, ...] = ()  # files found but not applied, and why


def applicable(instructions: Iterable[Instruction], paths: Sequence[str]) -> list[Instruction]:
    """The instructions that apply to at least one of ``paths``, in their order."""
    return [i for i in instructions if any(i.applies_to(path) for path in paths)]


def read_instructions(
    read: Callable[[str], str | None], paths: Sequence[str], *, concurrency: int = 8
) -> RepositoryInstructions:
    """Duo's instructions file and the AGENTS.md files that apply to ``paths`` (the changed files),
    read in parallel. An invalid file is noted and skipped, never fatal."""
    wanted = [DUO_FILE, *agents_candidates(paths)]
    texts = read_all(read, wanted, concurrency=concurrency)
    items: list[Instruction] = []
    notes: list[str] = []
    duo = texts.get(DUO_FILE)
    if duo:
        try:
            items.extend(parse_duo(duo))
        except ConfigError as exc:
            notes.append(f"{DUO_FILE} not applied: {exc}")
    agents, agents_notes = _agents(texts, paths)
    items.extend(agents)
    notes.extend(agents_notes)
    if len(items) > MAX_INSTRUCTIONS:
        notes.append(
            f"{len(items) - MAX_INSTRUCTIONS} instructions over the limit of {MAX_INSTRUCTIONS} left out"
        )
    return RepositoryInstructions(tuple(items[:MAX_INSTRUCTIONS]), tuple(notes))


def parse_duo(text: str, source: str = DUO_FILE) -> list[Instruction]:
    """The named instruction groups of a Duo instructions file; ConfigError names what is wrong."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from None
    groups = data.get("instructions") if isinstance(data, Mapping) else None
    if not isinstance(groups, list):
        raise ConfigError('it must hold an "instructions" list')
    found = []
    for number, group in enumerate(groups, start=1):
        found.append(_duo_group(group, number, source))
    return found


def _duo_group(group: Any, number: int, source: str) -> Instruction:
    if not isinstance(group, Mapping):
        raise ConfigError(f"instruction {number} is not a mapping of name, fileFilters, instructions")
    name = " ".join(str(group.get("name") or "").split())[:_MAX_NAME]
    text = str(group.get("instructions") or "").strip()
    filters = group.get("fileFilters") or []
    if not name or not text:
        raise ConfigError(f"instruction {number} needs a name and instructions")
    if isinstance(filters, str):
        filters = [filters]
    if not isinstance(filters, list) or not all(isinstance(f, str) and f.strip() for f in filters):
        raise ConfigError(f"instruction {name!r}: fileFilters must be a list of globs")
    return Instruction(name, text[:MAX_TEXT], tuple(f.strip() for f in filters), source)


def describe_instructions(found: RepositoryInstructions, paths: Sequence[str], *, shown: int = 10) -> str:
    """Which instruction reaches the model calls of which of ``paths`` (``reviewer prompts show
    --repo-config REPO``), and the files found but not applied."""
    lines = [f"# Named instructions: {len(found.items)}"]
    for instruction in found.items:
        files = [p for p in paths if instruction.applies_to(p)]
        filters = f" (fileFilters {', '.join(instruction.file_filters)})" if instruction.file_filters else ""
        lines.append(
            f"- {instruction.name!r} from {instruction.source}{filters}: {len(files)} of {len(paths)} files"
        )
        lines += [f"    {path}" for path in files[:shown]]
        if len(files) > shown:
            lines.append(f"    and {len(files) - shown} more")
    lines += [f"note: {note}" for note in found.notes]
    return "\n".join(lines)


# -- AGENTS.md -------------------------------------------------------------------------------------


def agents_candidates(paths: Iterable[str]) -> list[str]:
    """The AGENTS.md files that could apply to ``paths``: the root one and one per directory above
    each path, the deepest first."""
    found = [AGENTS_FILE]
    for path in paths:
        for directory in PurePosixPath(path).parents:
            if str(directory) != ".":
                found.append(f"{directory}/{AGENTS_FILE}")
    return list(dict.fromkeys(found))


def _agents(texts: Mapping[str, str | None], paths: Sequence[str]) -> tuple[list[Instruction], list[str]]:
    """The root AGENTS.md for every file, and each file's nearest other AGENTS.md for the files
    it is nearest to (its directory, minus the deeper directories that have their own)."""
    present = {
        path: guidelines
        for path, text in texts.items()
        if path.endswith(AGENTS_FILE) and text and (guidelines := review_guidelines(text))
    }
    notes = [
        f"{path} has no section whose heading names review: not applied"
        for path, text in texts.items()
        if path.endswith(AGENTS_FILE) and text and path not in present
    ]
    nearest = {_nearest(path, present) for path in paths} - {None, AGENTS_FILE}
    items = (
        [Instruction(AGENTS_FILE, present[AGENTS_FILE][:MAX_TEXT], (), AGENTS_FILE)]
        if AGENTS_FILE in present
        else []
    )
    for source in sorted(s for s in nearest if s is not None):
        directory = source[: -len(AGENTS_FILE)]
        deeper = [d[: -len(AGENTS_FILE)] for d in present if d != source and d.startswith(directory)]
        filters = (f"/{_escaped(directory)}**", *(f"!/{_escaped(d)}**" for d in deeper))
        items.append(Instruction(source, present[source][:MAX_TEXT], filters, source))
    return items, notes


def _nearest(path: str, present: Mapping[str, str]) -> str | None:
    for directory in PurePosixPath(path).parents:
        candidate = AGENTS_FILE if str(directory) == "." else f"{directory}/{AGENTS_FILE}"
        if candidate in present:
            return candidate
    return None


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_REVIEW_WORD = re.compile(r"\breview", re.IGNORECASE)


def review_guidelines(markdown: str) -> str:
    """The text of every section whose heading names review (with its subsections), headings
    left out; empty when there is none. Headings inside fenced code blocks do not count."""
    taken: list[str] = []
    level_taken = 0  # the level of the heading being taken, 0 when outside such a section
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if level_taken and level <= level_taken:
                level_taken = 0
            if not level_taken and _REVIEW_WORD.search(heading.group(2)):
                level_taken = level
                continue
        if level_taken:
            taken.append(line)
    return "\n".join(taken).strip()


_GLOB_SPECIAL = re.compile(r"([\\*?\[\]!# ])")


def _escaped(directory: str) -> str:
    """A directory name as a literal in a .gitignore glob."""
    return _GLOB_SPECIAL.sub(r"\\\1", directory)


@lru_cache(maxsize=256)
def _specs(filters: tuple[str, ...]) -> tuple[GitIgnoreSpec, GitIgnoreSpec]:
    include = [f for f in filters if not f.startswith("!")]
    exclude = [f[1:] for f in filters if f.startswith("!")]
    return GitIgnoreSpec.from_lines(include or ["*"]), GitIgnoreSpec.from_lines(exclude)
