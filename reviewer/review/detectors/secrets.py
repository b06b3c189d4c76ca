"""Secrets in a diff, found deterministically with detect-secrets' plugins, and a masker that keeps
them out of everything that leaves the process (prompts, logs, comments).

Every line of the diff is scanned, added, removed and unchanged, and so are the file names: an MR
that removes a hard-coded key shows the key on a removed line, and it must not reach the model any
more than an added one. Only secrets on added lines become findings (the MR adds them); the rest
are masked only.

Plugins: detect-secrets' whole default set (AWS, GitHub, GitLab, Slack, Stripe, private keys,
JWTs, basic-auth URLs, password/secret keywords, high-entropy strings...) except ``IPPublicDetector``
(an IP address is not a credential), with its default heuristic filters (sequential strings,
UUIDs, ``*_id`` values, templates, ``$VAR`` references, indirect references such as
``key = get_key()``, lock files) and its inline allowlist (``pragma: allowlist secret`` in a comment
on the line). Never its verification filter: that would send the secret to the vendor.

High-entropy strings are the noisy part: detect-secrets' limits are kept (base64 4.5 bits, hex
3.0 bits a character) and a hex string must also be at least 16 characters long to count, which
drops short hex literals (colours, small constants, "012345678a") but still flags hashes and
commit SHAs: their findings say so and tell how to allowlist the line.

What is masked is the whole token a plugin matched (some report only a part of it: "ghp" for
a GitHub token), and for a private key everything from its header to its END line. One finding per
line, however many secrets it holds; it never carries a secret, only a masked preview (``AK…LE``:
at most a fifth of it).

Speed: about 25,000 diff lines a second, each line scanned once (detect-secrets alone: 5,500), see
``_prescreen``; every line costs that now, not only the added ones.
"""

from __future__ import annotations

import math
import re
import string
import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from detect_secrets.core import scan as ds_scan
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins import keyword
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
from detect_secrets.settings import get_plugins, transient_settings

from reviewer.diff.parsing import FileDiff, LineKind
from reviewer.review.findings import Finding, Severity, Side

__all__ = ["REDACTED", "Masker", "SecretScan", "masked_preview", "scan", "scan_text"]

REDACTED = "[REDACTED]"
SOURCE = "secrets"

_EXCLUDED_PLUGINS = {"IPPublicDetector"}
_LIMITS = {"Base64HighEntropyString": {"limit": 4.5}, "HexHighEntropyString": {"limit": 3.0}}
_FILTERS = [
    "detect_secrets.filters.allowlist.is_line_allowlisted",
    "detect_secrets.filters.heuristic.is_indirect_reference",
    "detect_secrets.filters.heuristic.is_likely_id_string",
    "detect_secrets.filters.heuristic.is_lock_file",
    "detect_secrets.filters.heuristic.is_not_alphanumeric_string",
    "detect_secrets.filters.heuristic.is_potential_uuid",
    "detect_secrets.filters.heuristic.is_prefixed_with_dollar_sign",
    "detect_secrets.filters.heuristic.is_sequential_string",
    "detect_secrets.filters.heuristic.is_swagger_file",
    "detect_secrets.filters.heuristic.is_templated_secret",
]
# A default filter that asks whether the file exists on this disk: a diff's files need not.
_EXISTS_FILTER = "detect_secrets.filters.common.is_invalid_file"
_HEX = "Hex High Entropy String"
_PRIVATE_KEY = "Private Key"
_BASE64 = "Base64 High Entropy String"
_KEYWORD = "Secret Keyword"
_MIN_HEX_LENGTH = 16
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "+/=_-.~")
_MIN_MASK_ANYWHERE = 16  # shorter secrets are masked only where they stand as a whole word

# detect-secrets keeps its configuration in a process-wide singleton; scans take turns.
_SETTINGS_LOCK = threading.Lock()


class Masker:
    """Replaces every occurrence of the secrets it was given with ``[REDACTED]`` in any text.

    Secrets of 16 characters or more are replaced wherever they appear; shorter ones only where
    no letter, digit or underscore touches them, so that masking ``password`` (a value the
    keyword rule can report) spares ``passwordPrompt``.
    """

    __slots__ = ("_count", "_pattern")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._count = len(values)
        alternatives = [
            re.escape(v) if len(v) >= _MIN_MASK_ANYWHERE else rf"(?<!\w){re.escape(v)}(?!\w)" for v in values
        ]
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"Masker({self._count} secrets)"  # never the values


@dataclass(frozen=True, slots=True)
class SecretScan:
    findings: tuple[Finding, ...]
    masker: Masker


@dataclass(frozen=True, slots=True)
class _Hit:
    path: str
    line: int
    kind: str  # detect-secrets' secret_type
    secret: str
    also_masked: tuple[str, ...] = ()  # the lines of a private key after its header
    added: bool = False  # on an added line: a finding; anywhere else: masked only


def scan(files: Sequence[FileDiff]) -> SecretScan:
    """Scan every line and file name of ``files``: one finding per added line that holds secrets,
    and a masker for every secret found anywhere."""
    return _scan(files, prescreen=True)


def scan_text(texts: Iterable[str]) -> Masker:
    """A masker for the secrets in free text that is no part of a diff (an MR's title, a project
    path, a prompt), found by the same plugins and filters as in a diff."""
    numbered = [(number, text) for number, text in enumerate(texts, 1) if text]
    with _SETTINGS_LOCK, transient_settings(_settings()) as settings:
        settings.disable_filters(_EXISTS_FILTER)
        hits = [hit for hit in _scan_lines("text", numbered, None, added=set()) if _worth_reporting(hit)]
    return Masker(value for hit in hits for value in (hit.secret, *hit.also_masked))


def _scan(files: Sequence[FileDiff], *, prescreen: bool) -> SecretScan:
    with _SETTINGS_LOCK, transient_settings(_settings()) as settings:
        settings.disable_filters(_EXISTS_FILTER)
        patterns = _prescreen(get_plugins()) if prescreen else None
        hits = [hit for file in files for hit in _scan_file(file, patterns)]
    kept = [hit for hit in hits if _worth_reporting(hit)]
    findings = tuple(_finding(line_hits) for line_hits in _by_line(h for h in kept if h.added))
    return SecretScan(findings, Masker(value for hit in kept for value in (hit.secret, *hit.also_masked)))


def _settings() -> dict[str, Any]:
    classes: Iterable[type[Any]] = get_mapping_from_secret_type_to_class().values()
    names = sorted(plugin.__name__ for plugin in classes)
    plugins = [{"name": name, **_LIMITS.get(name, {})} for name in names if name not in _EXCLUDED_PLUGINS]
    return {"plugins_used": plugins, "filters_used": [{"path": path} for path in _FILTERS]}


def _prescreen(plugins: Iterable[Any]) -> list[re.Pattern[str]] | None:
    """Patterns that any line a plugin could report must match: each plugin's own expressions
    (multi-line, to run once over a file's added lines joined), or None when a plugin is of a
    kind not known here, and every line must go through detect-secrets.

    Running detect-secrets' 26 plugins on a line costs about 0.2 ms, mostly in its dependency
    injection; one pass of these over the whole text lets most lines skip that.
    """
    patterns: list[re.Pattern[str]] = []
    for plugin in plugins:
        if isinstance(plugin, RegexBasedDetector):
            patterns.extend(re.compile(p.pattern, p.flags | re.M) for p in plugin.denylist)
        elif isinstance(plugin, HighEntropyStringsPlugin):
            patterns.append(_long_quoted(plugin.charset, plugin.entropy_limit))
        elif isinstance(plugin, keyword.KeywordDetector):
            patterns.append(re.compile("|".join(keyword.DENYLIST), re.I))  # every rule needs the keyword
        else:
            return None
    return patterns


def _long_quoted(charset: str, limit: float) -> re.Pattern[str]:
    """The plugin's own regex (a quoted run of its alphabet), but only runs long enough to pass its
    entropy limit: a string of n characters has at most log2(n) bits of entropy a character."""
    shortest = math.floor(2**limit) + 1
    return re.compile(rf"""(['"])[{re.escape(charset)}]{{{shortest},}}\1""")


def _scan_file(file: FileDiff, prescreen: list[re.Pattern[str]] | None) -> Iterator[_Hit]:
    """The secrets of one file: its names, then its lines: added and unchanged ones by their new
    number (the new file as far as the diff shows it), then removed ones by their old number, so a
    private key spanning lines is found whole on either side and every line is scanned once."""
    path = file.new_path
    names = [(1, name) for name in dict.fromkeys((file.old_path, file.new_path))]
    yield from _scan_lines(path, names, prescreen, added=set())
    if ds_scan._is_filtered_out(required_filter_parameters=["filename"], filename=path):
        return
    lines = [line for hunk in file.hunks for line in hunk.lines]
    added = {line.new_no for line in lines if line.kind is LineKind.ADDED}
    new_side = [(ln.new_no, ln.text) for ln in lines if ln.new_no is not None]
    old_side = [(ln.old_no, ln.text) for ln in lines if ln.kind is LineKind.REMOVED and ln.old_no is not None]
    yield from _scan_lines(path, new_side, prescreen, added=added)
    yield from _scan_lines(path, old_side, prescreen, added=set())


def _scan_lines(
    path: str,
    numbered: list[tuple[int, str]],
    prescreen: list[re.Pattern[str]] | None,
    *,
    added: set[int | None],
) -> Iterator[_Hit]:
    if not numbered:
        return
    text_of = dict(numbered)
    candidates = numbered if prescreen is None else _candidates(numbered, prescreen)
    # What detect-secrets' own scan_diff does once it has parsed a diff (its parser, unidiff, rejects
    # some diffs git accepts, and scan_line would search unquoted strings and lose the file name).
    for secret in ds_scan._process_line_based_plugins(lines=candidates, filename=path):
        if not secret.secret_value:
            continue
        number = secret.line_number
        line = text_of.get(number, "")
        is_added = number in added
        if secret.type == _PRIVATE_KEY:
            yield _Hit(path, number, secret.type, *_key_block(line, number, text_of), added=is_added)
        else:
            token = _whole_token(secret.secret_value, line)
            also = (secret.secret_value,) if token != secret.secret_value else ()
            yield _Hit(path, number, secret.type, token, also, added=is_added)


def _key_block(line: str, number: int, text_of: dict[int, str]) -> tuple[str, tuple[str, ...]]:
    """A private key is its header and everything up to its END line: the rest of the header's
    line, then the added lines that follow it (stripped), up to the one with ``-----END``."""
    start = max(line.find("-----BEGIN"), 0)
    rest: list[str] = []
    if "-----END" not in line[start:]:
        following = number + 1
        while following in text_of:
            rest.append(text_of[following].strip())
            if "-----END" in text_of[following]:
                break
            following += 1
    return line[start:].strip(), tuple(r for r in rest if r)


def _whole_token(value: str, line: str) -> str:
    """The secret as it stands in the line: some plugins report only a part of what they matched
    (the GitHub one reports "ghp" for a whole ``ghp_...`` token), and a part is not enough to mask."""
    start = line.find(value)
    if start < 0:
        return value
    stop = start + len(value)
    while start > 0 and line[start - 1] in _TOKEN_CHARS:
        start -= 1
    while stop < len(line) and line[stop] in _TOKEN_CHARS:
        stop += 1
    return line[start:stop]


def _candidates(lines: list[tuple[int, str]], patterns: list[re.Pattern[str]]) -> list[tuple[int, str]]:
    """The lines some pattern touches when run over all of them joined by newlines: a superset of
    the lines it matches one by one (a match that spans lines marks each of them)."""
    text = "\n".join(t for _, t in lines)
    starts = list(accumulate((len(t) + 1 for _, t in lines[:-1]), initial=0))
    touched: set[int] = set()
    for pattern in patterns:
        for match in pattern.finditer(text):
            first = bisect_right(starts, match.start()) - 1
            last = bisect_right(starts, max(match.start(), match.end() - 1)) - 1
            touched.update(range(first, last + 1))
    return [lines[i] for i in sorted(touched)]


def _worth_reporting(hit: _Hit) -> bool:
    return hit.kind != _HEX or len(hit.secret) >= _MIN_HEX_LENGTH


def _by_line(hits: Iterable[_Hit]) -> list[list[_Hit]]:
    """Hits grouped by (path, line), the most specific first: a named provider, then the keyword
    rule, then the entropy guesses. A secret two plugins found counts once."""
    lines: dict[tuple[str, int], dict[str, _Hit]] = {}
    for hit in hits:
        secrets = lines.setdefault((hit.path, hit.line), {})
        if hit.secret not in secrets or _rank(hit) < _rank(secrets[hit.secret]):
            secrets[hit.secret] = hit
    return [
        sorted(secrets.values(), key=lambda h: (_rank(h), h.kind, h.secret))
        for _, secrets in sorted(lines.items())
    ]


def _rank(hit: _Hit) -> int:
    return {_KEYWORD: 1, _BASE64: 2, _HEX: 3}.get(hit.kind, 0)


def _finding(hits: list[_Hit]) -> Finding:
    first = hits[0]
    return Finding(
        aspect="security",
        severity=Severity.CRITICAL,
        path=first.path,
        line=first.line,
        side=Side.NEW,
        title=_title(first.kind),
        body=_body(first, len(hits) - 1),
        confidence={0: 1.0, 1: 0.8}.get(_rank(first), 0.6),
        source=SOURCE,
    )


def _title(kind: str) -> str:
    if kind in (_HEX, _BASE64):
        return f"Possible secret committed ({kind[:-7].lower()})"  # "... String" -> "hex high entropy"
    if kind == _KEYWORD:
        return "Hard-coded password or secret committed"
    return f"{kind} committed"


def _body(hit: _Hit, others: int) -> str:
    what = f"`{masked_preview(hit.secret)}` looks like a secret ({hit.kind})"
    if others:
        what += f", and {others} more string{'s' if others > 1 else ''} on this line"
    guess = (
        " If it is a hash, checksum or id rather than a credential, add `pragma: allowlist secret` "
        "in a comment on the line."
        if _rank(hit) >= 2
        else ""
    )
    return (
        f"{what}. Anyone who can read the repository can use it: revoke or rotate it now, then load "
        "it from the environment or a secrets manager instead. Deleting the line is not enough, "
        f"the value stays in the git history.{guess}"
    )


def masked_preview(secret: str) -> str:
    """At most a fifth of the secret, split between its ends and never more than 4 characters
    each: ``AKIAIOSFODNN7EXAMPLE`` -> ``AK…LE``; anything under 10 characters -> ``…``."""
    keep = min(4, len(secret) // 10)
    return f"{secret[:keep]}…{secret[-keep:]}" if keep else "…"
