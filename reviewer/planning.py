"""Review planning: which files a review reads, how much firepower it gets, and in which model calls.

``plan_review`` runs before any model does:

1. Files that cannot or need not be reviewed are set aside, each with its reason: what the parser
   marked (binary, withheld by GitLab, unreadable), noise (lock files, minified, generated,
   vendored, snapshots; a keep-glob such as database migrations wins over noise), deleted files
   (nothing left to comment on), and files without line changes (mode change, pure rename).
   Every input file ends up either in ``skipped`` or in exactly one chunk (split files in several).
2. The tier: ``trivial`` (at most 10 changed lines in at most 2 files), ``lite`` (at most 150
   lines), else ``full``; any reviewed file on a security-sensitive path makes it ``full``.
3. Chunks: the files rendered for the model (``reviewer.render``), packed in their order into
   chunks of at most ``chunk_tokens`` so that small files share one call and its instructions.
   A file over the budget is split between hunks; a hunk over the budget between lines. Every
   changed line is in exactly one chunk.

Globs (noise, keep, sensitive) are matched against the file's path, case-insensitively:
``name.ext`` or ``*.min.js`` (no ``/``) match the file name in any directory; ``vendor/`` (a
trailing ``/``) matches a directory of that name at any depth; anything else with a ``/`` matches
the whole path, where ``*`` stays within one directory and ``**`` crosses them (``docs/**``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise

from reviewer.diff import FileDiff, FileStatus, Hunk, LineKind
from reviewer.render import render_header, render_hunk
from reviewer.tokens import TokenCounter

__all__ = [
    "KEEP_GLOBS",
    "NOISE_GLOBS",
    "SENSITIVE_GLOBS",
    "SENSITIVE_WORDS",
    "Chunk",
    "Plan",
    "PlanConfig",
    "Skipped",
    "Tier",
    "plan_review",
]

_NOISE_KINDS: dict[str, tuple[str, ...]] = {
    "lock file": (
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "Pipfile.lock",
        "pdm.lock",
        "uv.lock",
        "conda-lock.yml",
        "Cargo.lock",
        "go.sum",
        "composer.lock",
        "Gemfile.lock",
        "Podfile.lock",
        "Package.resolved",
        "mix.lock",
        "pubspec.lock",
        "flake.lock",
        "packages.lock.json",
        "gradle.lockfile",
        ".terraform.lock.hcl",
    ),
    "minified": ("*.min.js", "*.min.mjs", "*.min.css"),
    "source map": ("*.js.map", "*.mjs.map", "*.cjs.map", "*.css.map", "*.d.ts.map"),
    "generated": (
        "*_pb2.py",
        "*_pb2.pyi",
        "*_pb2_grpc.py",
        "*.pb.go",
        "*.pb.cc",
        "*.pb.h",
        "*.pb.swift",
        "*.generated.*",
        "*.g.dart",
        "*.freezed.dart",
        "zz_generated.*",
    ),
    "vendored": ("vendor/", "third_party/", "third-party/", "node_modules/", "bower_components/", ".yarn/"),
    "snapshot": ("__snapshots__/", "*.snap"),
}
_NOISE_KIND_OF = {glob.lower(): kind for kind, globs in _NOISE_KINDS.items() for glob in globs}

NOISE_GLOBS: tuple[str, ...] = tuple(glob for globs in _NOISE_KINDS.values() for glob in globs)
KEEP_GLOBS: tuple[str, ...] = ("migrations/", "migrate/", "alembic/versions/", "*.sql")
SENSITIVE_GLOBS: tuple[str, ...] = (
    "*.pem",
    "*.key",
    "*.crt",
    "*.cer",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_ed25519*",
    ".env",
    ".env.*",
    "*.env",
    "Dockerfile",
    "Dockerfile.*",
    "*.dockerfile",
    "docker-compose*.yml",
    ".gitlab-ci.yml",
    ".gitlab-ci/",
    ".gitlab/ci/",
    ".github/workflows/",
    "Jenkinsfile",
    ".circleci/",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    "CODEOWNERS",
    "sudoers",
    ".htaccess",
)
# Words of five letters or more match anywhere in the path ("encrypt" in "encryption_utils.py");
# shorter ones only where a path word starts (camelCase counts as words), so that "iam" matches
# "iam/role.tf" and "IamPolicy.java" but not "diamond.py".
SENSITIVE_WORDS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "crypt",
    "oauth",
    "login",
    "logout",
    "session",
    "permission",
    "privilege",
    "security",
    "credential",
    "csrf",
    "sanitiz",
    "auth",
    "acl",
    "iam",
    "jwt",
    "saml",
    "sso",
    "rbac",
    "mfa",
    "otp",
    "tls",
    "ssl",
    "kms",
    "pki",
    "cert",
)


class Tier(StrEnum):
    TRIVIAL = "trivial"
    LITE = "lite"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class PlanConfig:
    chunk_tokens: int = 6000  # the diff text of one model call; instructions come on top
    context: int = 3  # unchanged lines kept around each change
    noise_globs: tuple[str, ...] = NOISE_GLOBS
    keep_globs: tuple[str, ...] = KEEP_GLOBS
    sensitive_globs: tuple[str, ...] = SENSITIVE_GLOBS
    sensitive_words: tuple[str, ...] = SENSITIVE_WORDS
    trivial_max_lines: int = 10
    trivial_max_files: int = 2
    lite_max_lines: int = 150
    review_deleted: bool = False  # a deleted file has only removed lines to comment on


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Chunk:
    files: tuple[FileDiff, ...]  # a file split across chunks holds only its hunks in this one
    text: str
    tokens: int  # the sum of its files' counts (tiktoken may differ by a token where they meet)
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    tier: Tier
    tier_reason: str
    chunks: tuple[Chunk, ...]
    skipped: tuple[Skipped, ...]
    changed_lines: int  # added + removed lines of the reviewed files
    reviewed_files: int
    notes: tuple[str, ...] = ()  # hunks split between lines, lines over the budget
    sensitive: frozenset[str] = frozenset()  # reviewed paths that are security-sensitive

    def is_sensitive(self, chunk: Chunk) -> bool:
        return not self.sensitive.isdisjoint(chunk.paths)


def plan_review(
    files: Sequence[FileDiff],
    config: PlanConfig,
    counter: TokenCounter,
    masker: Callable[[str], str] | None = None,
) -> Plan:
    """Decide what to review and cut it into chunks; ``masker`` runs over every rendered text."""
    rules = _rules(config)
    skipped: list[Skipped] = []
    reviewed: list[tuple[FileDiff, int]] = []
    for file in files:
        changed = _changed_lines(file)
        reason = _skip_reason(file, changed, rules, config)
        if reason is None:
            reviewed.append((file, changed))
        else:
            skipped.append(Skipped(file.path, reason))
    tier, tier_reason = _tier(reviewed, rules, config)
    sensitive = frozenset(file.path for file, _ in reviewed if _sensitive_reason(file.path, rules))
    cutter = _Cutter(config, counter, masker or _unmasked)
    # Sensitive files get chunks of their own: those get a call per aspect, the rest one call.
    chunks = [
        chunk
        for wanted in (True, False)
        for chunk in _pack(
            [p for file, _ in reviewed if (file.path in sensitive) is wanted for p in cutter.pieces(file)],
            config.chunk_tokens,
        )
    ]
    return Plan(
        tier=tier,
        tier_reason=tier_reason,
        chunks=tuple(chunks),
        skipped=tuple(skipped),
        changed_lines=sum(changed for _, changed in reviewed),
        reviewed_files=len(reviewed),
        notes=tuple(cutter.notes),
        sensitive=sensitive,
    )


# -- what is reviewed ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rules:
    noise: re.Pattern[str]
    noise_globs: tuple[str, ...]  # glob i is group g<i> of ``noise``
    keep: re.Pattern[str]
    sensitive: re.Pattern[str]
    sensitive_globs: tuple[str, ...]  # glob i is group g<i> of ``sensitive``
    sensitive_words: re.Pattern[str]


@lru_cache(maxsize=16)
def _rules(config: PlanConfig) -> _Rules:
    return _Rules(
        noise=_glob_set(config.noise_globs, named=True),
        noise_globs=config.noise_globs,
        keep=_glob_set(config.keep_globs),
        sensitive=_glob_set(config.sensitive_globs, named=True),
        sensitive_globs=config.sensitive_globs,
        sensitive_words=_word_set(config.sensitive_words),
    )


def _glob_set(globs: Sequence[str], *, named: bool = False) -> re.Pattern[str]:
    """One expression for all ``globs``; with ``named``, glob i is group ``g<i>``."""
    if not globs:
        return re.compile(r"(?!)")
    parts = [f"(?P<g{i}>{_glob_regex(g)})" if named else _glob_regex(g) for i, g in enumerate(globs)]
    return re.compile("|".join(parts), re.IGNORECASE)


def _glob_regex(glob: str) -> str:
    if glob.endswith("/"):
        return rf"(?:.*/)?{_translate(glob[:-1])}/.*"
    if "/" not in glob:
        return rf"(?:.*/)?{_translate(glob)}"
    return _translate(glob.removeprefix("/"))


def _translate(glob: str) -> str:
    out = []
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", glob):
        out.append({"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token) or re.escape(token))
    return "".join(out)


def _word_set(words: Sequence[str]) -> re.Pattern[str]:
    anywhere = [re.escape(w.lower()) for w in words if len(w) >= 5]
    at_start = [re.escape(w.lower()) for w in words if len(w) < 5]
    parts = [f"(?:{'|'.join(anywhere)})"] if anywhere else []
    if at_start:
        parts.append(f"(?<![a-z0-9])(?:{'|'.join(at_start)})")
    return re.compile("|".join(parts) or r"(?!)")


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _changed_lines(file: FileDiff) -> int:
    return sum(1 for hunk in file.hunks for line in hunk.lines if line.kind is not LineKind.CONTEXT)


def _skip_reason(file: FileDiff, changed: int, rules: _Rules, config: PlanConfig) -> str | None:
    if file.not_reviewed:
        return file.not_reviewed
    noise = _noise_reason(file, rules)
    if noise is not None:
        return noise
    if file.is_binary:
        return "binary file"
    if file.too_large:
        return "too large: GitLab sent no text for it"
    if file.status is FileStatus.DELETED and not config.review_deleted:
        return "deleted"
    if not changed:
        if file.mode_changed:
            return "mode change only"
        return "renamed without changes" if file.status is FileStatus.RENAMED else "no changed lines"
    return None


def _noise_reason(file: FileDiff, rules: _Rules) -> str | None:
    path = file.path
    match = rules.noise.fullmatch(path)
    if (match is None and not file.generated) or rules.keep.fullmatch(path):
        return None
    if match is None:
        return "generated (GitLab marks it so)"
    glob = rules.noise_globs[_group_index(match)]
    kind = _NOISE_KIND_OF.get(glob.lower(), "ignored by configuration")
    return f"{kind} ({glob})"


def _tier(reviewed: Sequence[tuple[FileDiff, int]], rules: _Rules, config: PlanConfig) -> tuple[Tier, str]:
    sensitive = [(file.path, why) for file, _ in reviewed if (why := _sensitive_reason(file.path, rules))]
    if sensitive:
        path, why = sensitive[0]
        more = f" and {len(sensitive) - 1} more" if len(sensitive) > 1 else ""
        return Tier.FULL, f"security-sensitive: {path} ({why}){more}"
    changed, count = sum(n for _, n in reviewed), len(reviewed)
    size = f"{changed} changed line{'s' if changed != 1 else ''} in {count} file{'s' if count != 1 else ''}"
    if not reviewed:
        return Tier.TRIVIAL, "nothing to review"
    if changed <= config.trivial_max_lines and count <= config.trivial_max_files:
        return Tier.TRIVIAL, size
    if changed <= config.lite_max_lines:
        return Tier.LITE, size
    return Tier.FULL, f"{size}, over {config.lite_max_lines}"


def _sensitive_reason(path: str, rules: _Rules) -> str | None:
    """Why ``path`` is security-sensitive (the glob or the word it matches), or None."""
    match = rules.sensitive.fullmatch(path)
    if match is not None:
        return rules.sensitive_globs[_group_index(match)]
    word = rules.sensitive_words.search(_CAMEL.sub("_", path).lower())
    return word.group() if word is not None else None


def _group_index(match: re.Match[str]) -> int:
    return int(str(match.lastgroup)[1:])  # groups are named g0, g1, ... in glob order


# -- chunks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    """A file, or the part of it that fits a chunk, rendered and counted."""

    file: FileDiff
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class _Rendered:
    hunk: Hunk
    text: str
    tokens: int


def _unmasked(text: str) -> str:
    return text


class _Cutter:
    """Renders files and cuts those over the budget; collects notes on what it had to cut."""

    def __init__(self, config: PlanConfig, counter: TokenCounter, mask: Callable[[str], str]) -> None:
        self.budget = config.chunk_tokens
        self.context = config.context
        self.count = counter.count
        self.mask = mask
        self.notes: list[str] = []

    def pieces(self, file: FileDiff) -> list[_Piece]:
        header = self.mask(render_header(file))
        header_tokens = self.count(header)
        hunks = [r for r in map(self._render, file.hunks) if r.text]
        total = header_tokens + sum(r.tokens for r in hunks)
        if total <= self.budget:
            return [_Piece(file, header + "".join(r.text for r in hunks), total)]
        room = self.budget - header_tokens
        parts = _group([sub for r in hunks for sub in self._fit(file, r, room)], room)
        return [
            _Piece(
                replace(file, hunks=tuple(r.hunk for r in part)),
                header + "".join(r.text for r in part),
                header_tokens + sum(r.tokens for r in part),
            )
            for part in parts
        ]

    def _render(self, hunk: Hunk) -> _Rendered:
        text = self.mask(render_hunk(hunk, context=self.context))
        return _Rendered(hunk, text, self.count(text) if text else 0)

    def _fit(self, file: FileDiff, rendered: _Rendered, room: int) -> list[_Rendered]:
        """The hunk, or its parts cut between lines when it alone is over ``room``."""
        if rendered.tokens <= room:
            return [rendered]
        parts = self._split(rendered, room)
        if len(parts) > 1:
            self.notes.append(
                f"{file.path}: a hunk of {rendered.tokens} tokens, over the {self.budget}-token budget, "
                f"was split into {len(parts)} parts between lines"
            )
        for part in parts:
            if part.tokens > room:
                self.notes.append(
                    f"{file.path}: line {_first_changed(part.hunk)} alone is over the budget "
                    f"({part.tokens} tokens); sent whole"
                )
        return parts

    def _split(self, rendered: _Rendered, room: int) -> list[_Rendered]:
        """Cut between lines, each line's cost estimated from its length (a count per line would
        cost a counter call each); a part the estimate got wrong is cut again."""
        lines = rendered.hunk.lines
        if len(lines) < 2:
            return [rendered]
        lengths = [len(line.text) + 8 for line in lines]  # 8: number, mark, spaces, newline
        scale = rendered.tokens / sum(lengths)
        costs = [math.ceil(length * scale) for length in lengths]
        parts = [part for part in map(self._render, _cut(rendered.hunk, costs, room)) if part.text]
        return [cut for part in parts for cut in (self._split(part, room) if part.tokens > room else [part])]


def _first_changed(hunk: Hunk) -> int | None:
    line = next(ln for ln in hunk.lines if ln.kind is not LineKind.CONTEXT)
    return line.old_no if line.kind is LineKind.REMOVED else line.new_no


def _group(rendered: list[_Rendered], room: int) -> list[list[_Rendered]]:
    """Consecutive hunks packed into parts of at most ``room`` tokens (a hunk over it alone)."""
    parts: list[list[_Rendered]] = []
    size = 0
    for r in rendered:
        if parts and size + r.tokens <= room:
            parts[-1].append(r)
            size += r.tokens
        else:
            parts.append([r])
            size = r.tokens
    return parts


def _cut(hunk: Hunk, costs: list[int], room: int) -> list[Hunk]:
    """``hunk`` cut between lines into hunks whose lines cost at most ``room`` each (a single
    line over it stays alone), preferably before an unchanged line so that a run of changes
    (a removed line and the line replacing it) stays together."""
    bounds = [0]
    size = 0
    quiet = 0  # the latest cut point before an unchanged line in the current part, 0 if none
    for i, (line, cost) in enumerate(zip(hunk.lines, costs, strict=True)):
        if i > bounds[-1] and size + cost > room:
            cut = quiet if quiet > bounds[-1] else i
            bounds.append(cut)
            size = sum(costs[cut:i])
        if line.kind is LineKind.CONTEXT:
            quiet = i
        size += cost
    bounds.append(len(costs))
    return [_sub_hunk(hunk, start, stop) for start, stop in pairwise(bounds)]


def _sub_hunk(hunk: Hunk, start: int, stop: int) -> Hunk:
    lines = hunk.lines[start:stop]
    old_before = sum(1 for ln in hunk.lines[:start] if ln.old_no is not None)
    new_before = sum(1 for ln in hunk.lines[:start] if ln.new_no is not None)
    return Hunk(
        old_start=hunk.old_start + old_before if hunk.old_len else hunk.old_start,
        old_len=sum(1 for ln in lines if ln.old_no is not None),
        new_start=hunk.new_start + new_before if hunk.new_len else hunk.new_start,
        new_len=sum(1 for ln in lines if ln.new_no is not None),
        lines=lines,
        section=hunk.section,
    )


def _pack(pieces: list[_Piece], budget: int) -> list[Chunk]:
    """Pieces in their order, a new chunk whenever the next would overflow the current one."""
    groups: list[list[_Piece]] = []
    size = 0
    for piece in pieces:
        if groups and size + piece.tokens <= budget:
            groups[-1].append(piece)
            size += piece.tokens
        else:
            groups.append([piece])
            size = piece.tokens
    return [
        Chunk(
            files=tuple(p.file for p in group),
            text="".join(p.text for p in group),
            tokens=sum(p.tokens for p in group),
            paths=tuple(dict.fromkeys(p.file.path for p in group)),
        )
        for group in groups
    ]
