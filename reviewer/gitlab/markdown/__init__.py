"""The one renderer of everything the bot writes to GitLab.

Every piece of text that reaches GitLab (file paths, the model's titles, bodies and suggestions,
failure texts, tier and skip reasons, the summary, thread replies, answers to people: ``replies``)
is composed here, and only here can a ``Markdown`` value be made: the client's write methods take
nothing else.

GitLab runs a quick action on any line that starts with ``/command`` (the extractor in
lib/gitlab/quick_actions/extractor.rb) unless the line sits in a fenced block, an HTML block, a
``>>>`` quote, or between a line holding a backtick and a later line that ends with one; newer
versions read the note's markdown paragraphs instead. A code span broken by a newline protects
nothing, so these rules hold whichever way a note is read:

- A name (path, SHA, model) is one code span that cannot break: line breaks, control and format
  characters (bidi overrides, zero-width ones) and backslashes are escaped (``a\\n/close``), and the
  delimiter is a backtick run longer than any inside it.
- Prose (model text, reasons, failure details) is rebuilt, not filtered: its code spans become such
  code spans, its code blocks our own fences (always closed), and the rest is literal text with
  backslashes, backticks, brackets, ``<``, ``>`` and ``&`` escaped, so no link, image, HTML,
  entity or stray code span can form. URLs, e-mail addresses and @mentions are shown as code:
  nothing is clickable, nobody is pinged. No line starts with ``/``: one that would gets a
  backslash (``\\/approve``).
- A suggestion is the only verbatim text, inside a fence longer than any backtick run it holds.
The summary masks every piece with the review's secret masker before rendering it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import InitVar, dataclass, replace
from typing import final

from reviewer.diff.positions import Position
from reviewer.gitlab.markers import RESOLVED_MARKER, SUMMARY_MARKER, fingerprint_marker
from reviewer.review.findings import Finding, Severity, Side

__all__ = [
    "RESOLVED_REPLY",
    "SUMMARY_MARKER",
    "Markdown",
    "code",
    "comment",
    "failed_review",
    "help_reply",
    "note",
    "reply",
    "resolved_reply",
    "sanitize",
    "summary",
    "thread",
]

RESOLVED_REPLY = "The line this comment was about has changed, so this looks addressed: resolving."

MAX_LISTED = 50
_MAX_SUGGESTION_OFFSET = 100
_KEY = object()


@final
@dataclass(frozen=True, slots=True)
class Markdown:
    """Text GitLab renders as the bot's words. Only this module's renderers make one."""

    text: str
    key: InitVar[object] = None

    def __post_init__(self, key: object) -> None:
        if key is not _KEY:
            raise TypeError("Markdown is made only by the renderers of reviewer.gitlab.markdown")

    def __str__(self) -> str:
        return self.text


def _made(text: str) -> Markdown:
    return Markdown(text, key=_KEY)


# -- names ----------------------------------------------------------------------------------------

_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_BACKTICK_RUN = re.compile(r"`+")


def _visible(text: str, *, backslashes: bool = True) -> str:
    """``text`` on one line with nothing hidden: line breaks, control and format characters escaped."""
    if text.isascii() and text.isprintable() and (not backslashes or "\\" not in text):
        return text
    out = []
    for char in text:
        if char in _NAMED and (backslashes or char != "\\"):
            out.append(_NAMED[char])
        elif unicodedata.category(char) in _HIDDEN:
            n = ord(char)
            out.append(f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
        else:
            out.append(char)
    return "".join(out)


def _span(shown: str) -> str:
    """A CommonMark code span holding ``shown`` (one line) exactly."""
    if not shown:
        return "` `"
    longest = max((len(run) for run in _BACKTICK_RUN.findall(shown)), default=0)
    delimiter = "`" * (longest + 1)
    pad = " " if shown[0] in "` " or shown[-1] in "` " else ""
    return f"{delimiter}{pad}{shown}{pad}{delimiter}"


def code(name: str) -> str:
    """A name (path, SHA, model) as one code span nothing can break."""
    return _span(_visible(name))


# -- prose ----------------------------------------------------------------------------------------

_BREAKS = re.compile("\r\n?|[\u2028\u2029]")
_DROPPED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:.*$", re.M)
_TOKEN = re.compile(
    r"(?P<image>!\[(?P<alt>[^\]\n]*)\]\s*(?:\([^)\n]*\)|\[[^\]\n]*\])?)"
    r"|(?P<link>\[(?P<label>[^\]\n]*)\]\(\s*(?P<target>[^)\s]*)[^)\n]*\))"
    r"|(?P<url>(?:[a-z][a-z0-9+.\-]*://|www\.)[^\s`<>\])\"']*"
    r"|(?:javascript|data|vbscript|mailto|file):[^\s`<>\])\"']+)"
    r"|(?P<email>[\w.+\-]+@[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)+)"
    # every @name, even inside a word: text after a code span starts a new word in the note
    r"|(?P<mention>@[a-z0-9_][a-z0-9_.\-/]*)",
    re.I,
)
_ESCAPES = str.maketrans(
    {"\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;", "&": "&amp;"}
)
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_LANGUAGES = frozenset(
    {"bash", "c", "cpp", "csharp", "css", "diff", "go", "graphql", "html", "java", "javascript", "js"}
    | {"json", "kotlin", "lua", "php", "python", "py", "ruby", "rust", "scala", "sh", "shell", "sql"}
    | {"swift", "text", "toml", "ts", "tsx", "typescript", "xml", "yaml", "yml"}
)  # a code block's info string: a language, never a diagram GitLab would render by fetching
_LINE_START_SLASH = re.compile(r"^([ \t]*)/", re.M)


def sanitize(text: str) -> str:
    """Untrusted text (a model's body) as GitLab markdown that cannot act: see the module doc."""
    parts = []
    for kind, info, lines in _blocks(_normalise(text)):
        if kind == "code":
            parts.append(_fenced(lines, info if info.lower() in _LANGUAGES else ""))
        else:
            block = _LINK_DEFINITION.sub("", "\n".join(lines))
            parts.append("".join(_inline(p) for p in re.split(r"(\n[ \t]*\n)", block)))
    return _no_command_lines("\n".join(parts).strip("\n"))


def _line(text: str) -> str:
    """Untrusted text on one line (a title, a reason): prose, with line breaks made spaces."""
    return _no_command_lines(_inline(" ".join(_normalise(text).replace("\t", " ").split("\n")).strip()))


def note(text: str) -> Markdown:
    """A note of untrusted or plain text (a reply, an answer to a command)."""
    return _made(sanitize(text))


def _normalise(text: str) -> str:
    return _DROPPED.sub("", _BREAKS.sub("\n", text))


def _no_command_lines(text: str) -> str:
    return _LINE_START_SLASH.sub(r"\1\\/", text)


def _blocks(text: str) -> Iterator[tuple[str, str, list[str]]]:
    """The top-level code blocks of ``text`` (fenced, or indented after a blank line) and the text
    around them: ("code", info, lines) or ("text", "", lines)."""
    lines = text.split("\n")
    plain: list[str] = []
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        indented = _indent(lines[i]) >= 4 and lines[i].strip() and (not plain or not plain[-1].strip())
        if not (opened and not (opened.group(2)[0] == "`" and "`" in opened.group(3))) and not indented:
            plain.append(lines[i])
            i += 1
            continue
        if plain:
            yield "text", "", plain
            plain = []
        body: list[str] = []
        if opened:
            margin, fence = len(opened.group(1)), opened.group(2)
            closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            i += 1
            while i < len(lines) and not closing.match(lines[i]):
                body.append(lines[i][min(margin, _indent(lines[i])) :])
                i += 1
            i += 1
            yield "code", opened.group(3).strip(), body
            continue
        while i < len(lines) and (_indent(lines[i]) >= 4 or not lines[i].strip()):
            body.append(lines[i].expandtabs(4)[4:])
            i += 1
        while body and not body[-1].strip():
            body.pop()
            plain.append("")
        yield "code", "", body
    if plain:
        yield "text", "", plain


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _fenced(lines: Sequence[str], info: str = "") -> str:
    text = "\n".join(lines)
    fence = "`" * max(3, max((len(r) for r in _BACKTICK_RUN.findall(text)), default=0) + 1)
    return f"{fence}{info}\n{text}\n{fence}" if lines else f"{fence}{info}\n{fence}"


def _inline(text: str) -> str:
    """A paragraph: its code spans (CommonMark's rules) re-made as ours, the rest literal."""
    out: list[str] = []
    start = i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _PUNCTUATION:
            i += 2
            continue
        if char != "`":
            i += 1
            continue
        run = len(_BACKTICK_RUN.match(text, i).group())  # type: ignore[union-attr]
        closing = re.compile(rf"(?<!`)`{{{run}}}(?!`)").search(text, i + run)
        if closing is None:
            i += run
            continue
        content = text[i + run : closing.start()].replace("\n", " ")
        if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
            content = content[1:-1]
        out += [_literal(text[start:i]), _span(_visible(content, backslashes=False))]
        start = i = closing.end()
    out.append(_literal(text[start:]))
    return _join(out)


def _join(pieces: Sequence[str]) -> str:
    """Pieces side by side, a space between two backticks that would merge into one longer run
    (and so close no span: ``a`` followed by ``b`` must not read as one run of two)."""
    out = ""
    for piece in pieces:
        out += " " + piece if out.endswith("`") and piece.startswith("`") else piece
    return out


def _literal(text: str) -> str:
    """Text that forms no markdown construct but emphasis, lists and headings; URLs, e-mail
    addresses and mentions shown as code, links as their text and target, images removed."""
    out: list[str] = []
    start = 0
    for match in _TOKEN.finditer(text):
        out.append(text[start : match.start()].translate(_ESCAPES))
        start = match.end()
        if match.group("image") is not None:
            alt = match.group("alt")[:60]
            out.append(f"\\[image removed: {_literal(alt)}\\]" if alt else "\\[image removed\\]")
        elif match.group("link") is not None:
            target = match.group("target")
            label = _literal(match.group("label"))
            out.append(f"{label} ({_span(_visible(target, backslashes=False))})" if target else label)
        else:
            out.append(_span(_visible(match.group(), backslashes=False)))
    out.append(text[start:].translate(_ESCAPES))
    return _join(out)


# -- inline comments ------------------------------------------------------------------------------

_ASPECT_LABEL = {"security": "Security", "style": "Style"}
_SEVERITY_ICON = dict(zip(Severity, "🔴🟠🟡🔵⚪", strict=True))  # critical ... info


def comment(finding: Finding, position: Position | None) -> Markdown:
    """One inline thread: severity, title, body, a suggestion where it can apply, and the hidden
    fingerprint marker the bot finds its threads by."""
    label = _ASPECT_LABEL.get(finding.aspect) or _line(finding.aspect.title())
    icon = _SEVERITY_ICON[finding.severity]
    parts = [f"{icon} **{label} · {finding.severity.value}**: {_line(finding.title)}"]
    if finding.instruction:
        parts.append(f"_Per the team's instruction '{_line(finding.instruction)}'._")
    if finding.body.strip():
        parts.append(sanitize(finding.body))
    suggestion = _suggestion_block(finding, position)
    if suggestion:
        parts.append(suggestion)
    marker = fingerprint_marker(finding.fingerprint, finding.anchor, finding.severity.value, finding.aspect)
    if marker:
        parts.append(marker)
    return _made("\n\n".join(parts))


def thread(findings: Sequence[Finding], position: Position) -> Markdown:
    """The findings that land on one line, one after another, each with its own marker. Only the
    first applicable suggestion is offered: two suggestions for one line would undo each other."""
    parts, suggested = [], False
    for finding in findings:
        shown = replace(finding, suggestion=None) if suggested else finding
        suggested = suggested or _suggestion_block(shown, position) is not None
        parts.append(comment(shown, position).text)
    return _made("\n\n---\n\n".join(parts))


def _suggestion_block(finding: Finding, position: Position | None) -> str | None:
    """A GitLab suggestion where it can apply: the new-side lines the finding named, exactly (one
    moved or shortened to fit the diff would corrupt the file), and no bidi controls in the code.
    The comment sits on the range's last line: ``suggestion:-N+0`` reaches back N lines (<= 100)."""
    if finding.suggestion is None or position is None or finding.side is not Side.NEW:
        return None
    start, end = position.start.new_line or 0, position.new_line or 0
    exact = (start, end) == (finding.line, finding.end_line or finding.line)  # lines count from 1
    if not exact or end - start > _MAX_SUGGESTION_OFFSET or _BIDI.search(finding.suggestion):
        return None
    return _fenced(finding.suggestion.rstrip("\n").split("\n"), f"suggestion:-{end - start}+0")


def resolved_reply() -> Markdown:
    """The reply on a thread the bot resolves because its line changed."""
    return _made(f"{RESOLVED_REPLY}\n\n{RESOLVED_MARKER}")


from reviewer.gitlab.markdown.replies import help_reply, reply  # noqa: E402  (they render with the primitives above)
from reviewer.gitlab.markdown.summary import failed_review, summary  # noqa: E402
