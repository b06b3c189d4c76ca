"""What GitLab does with a note's markdown: the quick actions it runs, and what the note would show
that a review bot must never post. Pure functions; nothing from ``reviewer``.

Quick actions, two readings, both checked:

- ``quick_actions``: GitLab's extractor (lib/gitlab/quick_actions/extractor.rb, ``commands_regex``),
  ported expression for expression. ``\\r`` is deleted first; then one scan, leftmost match first,
  tries in order a fenced block (a line starting with ```` ``` ```` up to the next line that is exactly
  ```` ``` ````), "inline code" (from a line start, through a backtick, up to a later line that ends
  with a backtick: a code span broken by a newline protects nothing by itself, but any later line
  ending in a backtick shields everything before it), an HTML block (a line that is one tag, up to a
  line that is one closing tag), a ``>>>`` quote, and only then a command: ``/name`` at a line start,
  then a space and arguments or the line's end. Stricter than GitLab in one way: every ``/word``
  counts as a command, since GitLab adds commands every release and instances add their own.
- ``command_lines``: the markdown reading of newer GitLab versions (the extractor looks only at
  paragraphs): any line outside a fenced code block whose text starts with ``/word``, indented or
  not. Stricter than GitLab: HTML blocks, quotes and code spans shield nothing here.

``unsafe_markup`` lists what a bot's note must not hold outside code (fenced blocks, and code spans
on one line): an @mention (GitLab would ping; HTML entities are decoded first, as the reference
filters see text), an image, raw HTML other than the bot's own fixed tags, or a link whose target
is not http(s) (a markdown link or reference definition, any other ``scheme://``, which GitLab's
autolinker links, or an e-mail address, which it links as ``mailto:``). The stand-in checks the
bot's notes with ``links_to``: their only links are to the MR's own notes (``{web_url}#note_<id>``,
the summary's links to the threads of its findings).
"""

from __future__ import annotations

import html
import re

_ANY_COMMAND = r"[a-z0-9_]+"
EXTRACTOR = re.compile(
    r"""
        (?P<code>^```.+?\n```$)
      | (?P<inline_code>^.*`\n*.+?\n*`$)
      | (?P<html>^<[^>]+?>\n.+?\n</[^>]+?>$)
      | (?P<quote>^>>>.+?\n>>>$)
      | (?:^/(?P<cmd>"""
    + _ANY_COMMAND
    + r""")(?:[ ](?P<arg>[^\n]*))?(?:\s*\n|$))
    """,
    re.M | re.S | re.I | re.X,
)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_COMMAND_LINE = re.compile(r"^[ \t]*/\w")
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
# The fixed HTML a review bot may write: its markers (re=: which note an answer answers), a collapsible
# list and small print.
_OWN_HTML = re.compile(
    r"<(?:/?(?:details|summary|sub)|!-- ai-review (?:summary|resolved|re=[0-9]+"
    r"|fp=[0-9a-f]+(?: code=[0-9a-f]+)?(?: sev=[a-z]+)?(?: aspect=[a-z][a-z0-9_-]*)?) --)>"
)
_MENTION = re.compile(r"(?<!\w)@[A-Za-z0-9_]")
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*)://", re.I)
_EMAIL = re.compile(r"[\w.+\-]+@[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)+")
_INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]*)")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S*)", re.M)


def quick_actions(body: str) -> list[str]:
    """The commands GitLab's extractor finds in ``body``: ``"name arg"`` each."""
    found = []
    for match in EXTRACTOR.finditer(body.replace("\r", "")):
        if match.group("cmd"):
            found.append(" ".join(p for p in (match.group("cmd").lower(), match.group("arg")) if p))
    return found


def command_lines(body: str) -> list[str]:
    """Lines outside fenced code blocks that start with ``/word``."""
    return [line.strip() for line in _outside_fences(body) if _COMMAND_LINE.match(line)]


def unsafe_markup(body: str, *, links_to: str | None = None) -> list[str]:
    """What the note would do or show that it must not: one short reason each. With ``links_to``
    (a bot's note: the MR's own ``{web_url}#note_``), a link must point there."""
    problems: list[str] = []
    for line in _outside_fences(body):
        text = _without_code_spans(line)
        literal = re.sub(r"\\[" + re.escape(_PUNCTUATION) + "]", "\x00", text)  # escaped: plain text
        for match in _MENTION.finditer(html.unescape(text)):
            problems.append(f"mention {match.group()!r} in {line!r}")
        if re.search(r"!\[", literal):
            problems.append(f"image in {line!r}")
        for tag in re.finditer(r"<[A-Za-z/!?]", literal):
            if not _OWN_HTML.match(literal, tag.start()):
                problems.append(f"raw HTML in {line!r}")
        for target in [*_INLINE_LINK.findall(literal), *_DEFINITION.findall(literal)]:
            if not re.match(r"https?://", target, re.I):
                problems.append(f"link to {target!r} in {line!r}")
            elif links_to is not None and not re.fullmatch(re.escape(links_to) + r"\d+", target):
                problems.append(f"link to {target!r}, not to a note of this MR, in {line!r}")
        for scheme in _SCHEME.findall(literal):
            if scheme.lower() not in ("http", "https"):
                problems.append(f"{scheme}:// link in {line!r}")
        problems += [f"e-mail link {m.group()!r} in {line!r}" for m in _EMAIL.finditer(literal)]
    return problems


def _outside_fences(body: str) -> list[str]:
    """The lines of ``body`` (line ends as CommonMark reads them) that are not in a fenced block."""
    lines, fence = [], ""
    for line in re.split(r"\r\n|\r|\n", body):
        opened = _FENCE.match(line)
        if fence:
            closes = opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence)
            if closes and opened and not opened.group(2).strip():
                fence = ""
            continue
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)
            continue
        lines.append(line)
    return lines


def _without_code_spans(line: str) -> str:
    """``line`` with its code spans (CommonMark: equal backtick runs, outside backslash escapes)
    blanked out."""
    out, i, start = [], 0, 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in _PUNCTUATION:
            i += 2
            continue
        if line[i] != "`":
            i += 1
            continue
        run = re.match(r"`+", line[i:])
        assert run is not None
        n = len(run.group())
        closing = re.compile(rf"(?<!`)`{{{n}}}(?!`)").search(line, i + n)
        if closing is None:
            i += n
            continue
        out.append(line[start:i] + " ")
        start = i = closing.end()
    out.append(line[start:])
    return "".join(out)
