"""Where a file's functions and classes start and end: its outline, for the enclosing context of
each hunk (``reviewer.review.context``).

For the languages it has a grammar for, tree-sitter parses the file and the grammar's own tags
query (the one editors and code-search tools use: ``@definition.function``, ``@definition.class``...)
names the definitions; each grammar is a package of the tree-sitter organisation (no download at run
time). For every other file an indentation rule finds them: a line followed by more indented lines
opens a block that ends before the next line indented as much or less (a closing ``}`` or ``end``
at its own indentation included); blocks opened by control flow (``if``, ``for``...), comments or
decorators are not definitions.

Line numbers count from 1, as the diff's new-file numbers do.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import PurePosixPath

import tree_sitter

__all__ = ["Definition", "Kind", "language_of", "outline"]

log = logging.getLogger(__name__)

MAX_PARSED_BYTES = 2_000_000  # a larger file gets the indentation rule (a generated file, a dump)


class Kind(StrEnum):
    FUNCTION = "function"  # functions and methods: shown whole when short
    CONTAINER = "container"  # classes, modules, interfaces, types: only their signature


@dataclass(frozen=True, slots=True)
class Definition:
    kind: Kind
    first: int  # the line it starts on
    last: int  # the line it ends on
    header_last: int  # the last line of its signature (before its body)

    def contains(self, line: int) -> bool:
        return self.first <= line <= self.last


# grammar package, the function returning its language, the packages whose tags queries apply
_GRAMMARS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "python": ("tree_sitter_python", "language", ("tree_sitter_python",)),
    "javascript": ("tree_sitter_javascript", "language", ("tree_sitter_javascript",)),
    # TypeScript's tags query holds only what it adds to JavaScript's
    "typescript": (
        "tree_sitter_typescript",
        "language_typescript",
        ("tree_sitter_javascript", "tree_sitter_typescript"),
    ),
    "tsx": ("tree_sitter_typescript", "language_tsx", ("tree_sitter_javascript", "tree_sitter_typescript")),
    "go": ("tree_sitter_go", "language", ("tree_sitter_go",)),
    "java": ("tree_sitter_java", "language", ("tree_sitter_java",)),
    "ruby": ("tree_sitter_ruby", "language", ("tree_sitter_ruby",)),
    "rust": ("tree_sitter_rust", "language", ("tree_sitter_rust",)),
    "c": ("tree_sitter_c", "language", ("tree_sitter_c",)),
    "cpp": ("tree_sitter_cpp", "language", ("tree_sitter_cpp",)),
    "php": ("tree_sitter_php", "language_php", ("tree_sitter_php",)),
}
_EXTENSIONS = {
    **dict.fromkeys((".py", ".pyi"), "python"),
    **dict.fromkeys((".js", ".mjs", ".cjs", ".jsx"), "javascript"),
    **dict.fromkeys((".ts", ".mts", ".cts"), "typescript"),
    ".tsx": "tsx",
    ".go": "go",
    ".java": "java",
    **dict.fromkeys((".rb", ".rake", ".gemspec"), "ruby"),
    ".rs": "rust",
    **dict.fromkeys((".c", ".h"), "c"),
    **dict.fromkeys((".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx"), "cpp"),
    ".php": "php",
}
_NAMES = {"Rakefile": "ruby", "Gemfile": "ruby"}
_FUNCTIONS = frozenset({"function", "method", "macro"})
_CONTAINERS = frozenset({"class", "interface", "module", "type", "struct", "enum", "trait", "object"})
_MAX_CLIMB = 3  # a C function's tag names its declarator; its definition is up to 3 levels above


def language_of(path: str) -> str | None:
    """The grammar that parses ``path``, by its extension or name; None: the indentation rule."""
    name = PurePosixPath(path).name
    return _NAMES.get(name) or _EXTENSIONS.get(PurePosixPath(name).suffix.lower())


def outline(path: str, text: str) -> list[Definition]:
    """The definitions of ``text`` (the file ``path``), in the order they start."""
    language = language_of(path)
    data = text.encode("utf-8", errors="replace")
    if language is not None and len(data) <= MAX_PARSED_BYTES:
        parsed = _parsed(language, data)
        if parsed is not None:
            return parsed
    return indentation_outline(text.splitlines())


# -- tree-sitter ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Grammar:
    language: tree_sitter.Language
    tags: tree_sitter.Query


@cache
def _grammar(language: str) -> _Grammar | None:
    package, function, tag_packages = _GRAMMARS[language]
    try:
        grammar = tree_sitter.Language(getattr(importlib.import_module(package), function)())
        query = "\n".join(str(importlib.import_module(p).TAGS_QUERY) for p in tag_packages)
        return _Grammar(grammar, tree_sitter.Query(grammar, query))
    except (ImportError, AttributeError, ValueError, tree_sitter.QueryError) as exc:
        log.warning("no %s grammar (%s): the indentation rule outlines its files", language, exc)
        return None


def _parsed(language: str, data: bytes) -> list[Definition] | None:
    grammar = _grammar(language)
    if grammar is None:
        return None
    tree = tree_sitter.Parser(grammar.language).parse(data)
    found: dict[tuple[int, int], Definition] = {}
    for _, captures in tree_sitter.QueryCursor(grammar.tags).matches(tree.root_node):
        for name, nodes in captures.items():
            kind = _kind(name)
            if kind is None:
                continue
            for node in nodes:
                definition = _definition(kind, node, data)
                found.setdefault((definition.first, definition.last), definition)
    return sorted(found.values(), key=lambda d: (d.first, -d.last))


def _kind(capture: str) -> Kind | None:
    group, _, what = capture.partition(".")
    if group != "definition":
        return None
    if what in _FUNCTIONS:
        return Kind.FUNCTION
    return Kind.CONTAINER if what in _CONTAINERS else None


def _definition(kind: Kind, node: tree_sitter.Node, data: bytes) -> Definition:
    body = _body(node)
    climbed: tree_sitter.Node | None = node
    for _ in range(_MAX_CLIMB if body is None else 0):
        climbed = climbed.parent if climbed is not None else None
        if climbed is None or climbed.type in ("program", "source_file", "translation_unit"):
            break
        if climbed.child_by_field_name("body") is not None:
            node, body = climbed, climbed.child_by_field_name("body")
            break
    first, last = node.start_point.row + 1, node.end_point.row + 1
    header_last = first
    if body is not None and body.start_point.row > node.start_point.row:
        # The body's first line belongs to the signature when the body opens mid-line (``) {``).
        line_start = data.rfind(b"\n", 0, body.start_byte) + 1
        mid_line = data[line_start : body.start_byte].strip() != b""
        header_last = body.start_point.row + (1 if mid_line else 0)
    return Definition(kind, first, last, max(first, min(header_last, last)))


def _body(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The node's body, or its value's (``const f = (x) => {...}``)."""
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    return body


# -- the indentation rule ------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CONTROL = _words(
    "if else elif elsif for foreach while do switch case when try catch except finally with loop match "
    "unless until begin rescue ensure return select default then fi done esac"
)
_CONTAINER_WORDS = _words(
    "class struct interface module impl trait enum object namespace record protocol extension"
)
_MODIFIERS = _words(
    "public private protected internal static final abstract export default async pub sealed open "
    "override virtual inline extern unsafe partial data"
)
_FIRST_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_CLOSER = re.compile(r"^(?:[}\])][\s;,)\]}]*|end\b.*|fi|done|esac)$")
_NOT_A_HEADER = ("#", "//", "/*", "*", "--", "@", "}", ")", "]", "<!--", ";")


def indentation_outline(lines: list[str]) -> list[Definition]:
    """The blocks of ``lines`` that look like definitions (see the module doc)."""
    found: list[Definition] = []
    open_lines: list[tuple[int, int]] = []  # (indentation, line number) of the lines above
    previous = 0  # the last non-blank line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        indentation = _indentation(line)
        while open_lines and indentation <= open_lines[-1][0]:
            opened_at, start = open_lines.pop()
            closes = indentation == opened_at and _CLOSER.match(line.strip()) is not None
            _add_block(found, lines, start, number if closes else previous)
        open_lines.append((indentation, number))
        previous = number
    while open_lines:
        _add_block(found, lines, open_lines.pop()[1], previous)
    return sorted(found, key=lambda d: (d.first, -d.last))


def _add_block(found: list[Definition], lines: list[str], start: int, end: int) -> None:
    if end <= start:
        return  # no body
    kind = _header_kind(lines[start - 1].strip())
    if kind is not None:
        found.append(Definition(kind, start, end, start))


def _header_kind(header: str) -> Kind | None:
    if header.startswith(_NOT_A_HEADER):
        return None
    words = _FIRST_WORD.findall(header)
    while words and words[0] in _MODIFIERS:
        words = words[1:]
    first = words[0] if words else ""
    if not first or first in _CONTROL:
        return None
    return Kind.CONTAINER if first in _CONTAINER_WORDS else Kind.FUNCTION


def _indentation(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())
