"""Review planning: which files a review reads, how much firepower it gets, and in which model calls.

``plan_review`` runs before any model does:

1. Files that cannot or need not be reviewed are set aside, each with its reason: what the parser
   marked (binary, withheld by GitLab, unreadable), noise (lock files, minified, generated,
   vendored, snapshots; a keep-glob such as database migrations wins over noise), deleted files
   (nothing left to comment on), and files without line changes (mode change, pure rename).
   Every input file ends up either in ``skipped`` or in exactly one chunk (split files in several).
2. The tier: ``trivial`` (at most 10 changed lines in at most 2 files), ``lite`` (at most 150
   lines), else ``full``; any reviewed file on a security-sensitive path makes it ``full``.
3. Chunks: the files rendered for the model (``reviewer.diff.render``), packed in their order into
   chunks of at most ``chunk_tokens`` so that small files share one call and its instructions.
   A file over the budget is split between hunks; a hunk over the budget between lines. Every
   changed line is in exactly one chunk.

Globs (noise, keep, sensitive) follow .gitignore's rules (pathspec's GitIgnoreSpec), matched
case-insensitively against the file's path: ``name.ext`` or ``*.min.js`` (no ``/``) match the file
name in any directory; ``vendor/`` (only a trailing ``/``) matches a directory of that name at any
depth; a glob with a ``/`` before its end is anchored at the repository root (``docs/**``), unless
it starts with ``**/``; ``*`` stays within one directory, ``**`` crosses them; a later ``!glob``
takes a path back out (``!docs/api.md`` after ``docs/**``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from pathspec import GitIgnoreSpec

from reviewer.diff.parsing import FileDiff, FileStatus, LineKind
from reviewer.review.chunking import Chunk, Cutter, pack
from reviewer.review.tokens import TokenCounter

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
KEEP_GLOBS: tuple[str, ...] = ("migrations/", "migrate/", "**/alembic/versions/", "*.sql")
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
    large_context: int = 2  # ... in an MR over lite_max_lines: every line sent costs there
    noise_globs: tuple[str, ...] = NOISE_GLOBS
    keep_globs: tuple[str, ...] = KEEP_GLOBS
    sensitive_globs: tuple[str, ...] = SENSITIVE_GLOBS
    sensitive_words: tuple[str, ...] = SENSITIVE_WORDS
    trivial_max_lines: int = 10
    trivial_max_files: int = 2
    lite_max_lines: int = 150
    review_deleted: bool = False  # a deleted file has only removed lines to comment on
    max_chunks: int | None = None  # a cost guard: chunks past it are listed as not reviewed


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


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
    cutter: Cutter | None = field(default=None, compare=False, repr=False)  # cuts a chunk again

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
    large = sum(changed for _, changed in reviewed) > config.lite_max_lines
    cutter = Cutter(config.chunk_tokens, config.large_context if large else config.context, counter, masker)
    # Sensitive files get chunks of their own: those get a call per aspect, the rest one call.
    chunks = [
        chunk
        for wanted in (True, False)
        for chunk in pack(
            [p for file, _ in reviewed if (file.path in sensitive) is wanted for p in cutter.pieces(file)],
            config.chunk_tokens,
        )
    ]
    if config.max_chunks is not None and len(chunks) > config.max_chunks:
        chunks, skipped, reviewed = _over_the_limit(chunks, config.max_chunks, skipped, reviewed)
    return Plan(
        tier=tier,
        tier_reason=tier_reason,
        chunks=tuple(chunks),
        skipped=tuple(skipped),
        changed_lines=sum(changed for _, changed in reviewed),
        reviewed_files=len(reviewed),
        notes=tuple(cutter.notes),
        sensitive=sensitive,
        cutter=cutter,
    )


def _over_the_limit(
    chunks: list[Chunk], limit: int, skipped: list[Skipped], reviewed: list[tuple[FileDiff, int]]
) -> tuple[list[Chunk], list[Skipped], list[tuple[FileDiff, int]]]:
    """Keep the first ``limit`` chunks (sensitive files come first); list the rest as not
    reviewed, a file cut between kept and dropped chunks as partly reviewed."""
    kept, dropped = chunks[:limit], chunks[limit:]
    kept_paths = {path for chunk in kept for path in chunk.paths}
    why = f"over this review's size limit of {limit} model calls (REVIEWER_MAX_CHUNKS)"
    for path in dict.fromkeys(path for chunk in dropped for path in chunk.paths):
        reason = f"partly reviewed: the rest is {why}" if path in kept_paths else f"not reviewed: {why}"
        skipped.append(Skipped(path, reason))
    kept_lines = {
        path: sum(
            1
            for c in kept
            for f in c.files
            if f.path == path
            for h in f.hunks
            for ln in h.lines
            if ln.kind is not LineKind.CONTEXT
        )
        for path in kept_paths
    }
    reviewed = [(file, kept_lines[file.path]) for file, _ in reviewed if file.path in kept_paths]
    return kept, skipped, reviewed


# -- what is reviewed ------------------------------------------------------------------------


class _Globs:
    """A list of globs with .gitignore's rules, case-insensitive; says which glob decided."""

    def __init__(self, globs: Sequence[str]) -> None:
        self._globs = [glob for glob in globs if glob.strip()]  # what GitIgnoreSpec keeps, in order
        self._spec = GitIgnoreSpec.from_lines([glob.lower() for glob in self._globs])

    def match(self, path: str) -> str | None:
        """The glob that makes ``path`` match (the last one that matches it, as in .gitignore),
        or None when none does or a ``!glob`` took it back."""
        result = self._spec.check_file(path.lower())
        return self._globs[result.index] if result.include and result.index is not None else None


@dataclass(frozen=True, slots=True)
class _Rules:
    noise: _Globs
    keep: _Globs
    sensitive: _Globs
    sensitive_words: re.Pattern[str]


@lru_cache(maxsize=16)
def _rules(config: PlanConfig) -> _Rules:
    return _Rules(
        noise=_Globs(config.noise_globs),
        keep=_Globs(config.keep_globs),
        sensitive=_Globs(config.sensitive_globs),
        sensitive_words=_word_set(config.sensitive_words),
    )


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
    glob = rules.noise.match(file.path)
    if (glob is None and not file.generated) or rules.keep.match(file.path):
        return None
    if glob is None:
        return "generated (GitLab marks it so)"
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
    glob = rules.sensitive.match(path)
    if glob is not None:
        return glob
    word = rules.sensitive_words.search(_CAMEL.sub("_", path).lower())
    return word.group() if word is not None else None
