"""Reading git's file headers: ``diff --git`` lines, extended headers (renames, modes, new and
deleted files, binary notices), ``a/``/``b/`` prefixes and C-quoted names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_GIT_PREFIX_PAIRS = (("a/", "b/"), ("c/", "w/"), ("c/", "i/"), ("i/", "w/"), ("o/", "w/"), ("1/", "2/"))
_C_ESCAPE = re.compile(r'\\([0-3][0-7]{2}|[abtnvfr"\\])')
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
DEV_NULL = "/dev/null"


def is_binary_notice(line: str) -> bool:
    return line.startswith(("Binary files ", "GIT binary patch"))


@dataclass(slots=True)
class GitHeader:
    """What a ``diff --git`` file header says, as written (names still quoted and prefixed)."""

    names: str
    minus: str | None = None
    plus: str | None = None
    source: str | None = None  # rename/copy from: no prefix
    target: str | None = None
    new_file: bool = False
    deleted: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False


def read_git_header(lines: Sequence[str]) -> GitHeader:
    header = GitHeader(names=lines[0][len("diff --git ") :].rstrip("\r\n"))
    for raw in lines[1:]:
        line = raw.rstrip("\r\n")
        if line.startswith("new file mode "):
            header.new_file = True
        elif line.startswith("deleted file mode "):
            header.deleted = True
        elif line.startswith("old mode "):
            header.old_mode = line[len("old mode ") :]
        elif line.startswith("new mode "):
            header.new_mode = line[len("new mode ") :]
        elif line.startswith(("rename from ", "copy from ")):
            header.source = line.split(" ", 2)[2]
        elif line.startswith(("rename to ", "copy to ")):
            header.target = line.split(" ", 2)[2]
        elif line.startswith("--- "):
            header.minus = line[4:].split("\t", 1)[0]  # git ends a name holding spaces with a tab
        elif line.startswith("+++ "):
            header.plus = line[4:].split("\t", 1)[0]
        elif is_binary_notice(line):
            header.binary = True
    return header


def git_paths(header: GitHeader) -> tuple[str, str] | None:
    """(old, new) without prefixes; /dev/null stays as such for the caller to read."""
    if header.source is not None and header.target is not None:
        return unquote(header.source), unquote(header.target)
    prefixes = _git_prefixes(header.names)
    if header.minus is not None and header.plus is not None:
        return strip_prefix(header.minus, prefixes, 0), strip_prefix(header.plus, prefixes, 1)
    names = _split_git_names(header.names, prefixes)
    if names is None:
        return None
    return strip_prefix(names[0], prefixes, 0), strip_prefix(names[1], prefixes, 1)


def _git_prefixes(names: str) -> tuple[str, str] | None:
    """The source/destination prefixes the ``diff --git`` line uses, or None (``--no-prefix``)."""
    for old, new in _GIT_PREFIX_PAIRS:
        if names.startswith((old, f'"{old}')) and (f" {new}" in names or f' "{new}' in names):
            return old, new
    return None


def strip_prefix(name: str, prefixes: tuple[str, str] | None, side: int) -> str:
    name = unquote(name)
    if prefixes is not None and name != DEV_NULL and name.startswith(prefixes[side]):
        return name[len(prefixes[side]) :]
    return name


def _split_git_names(names: str, prefixes: tuple[str, str] | None) -> tuple[str, str] | None:
    """Split ``diff --git A B`` where nothing else names the file (binary, mode-only, empty file).

    Quoted names split at their quotes; unquoted ones may hold spaces, but without a rename line
    both name the same file, so the line splits in the middle.
    """
    if names.startswith('"'):
        first, rest = _take_quoted(names)
        return (first, rest[1:]) if first and rest.startswith(' "') else None
    half = len(names) // 2
    first, gap, second = names[:half], names[half : half + 1], names[half + 1 :]
    if gap != " " or strip_prefix(first, prefixes, 0) != strip_prefix(second, prefixes, 1):
        return None
    return first, second


def _take_quoted(text: str) -> tuple[str, str]:
    """Split a C-quoted name off the front of ``text``: (quoted name, rest), or ("", text)."""
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return text[: i + 1], text[i + 1 :]
        else:
            i += 1
    return "", text


def unquote(name: str) -> str:
    """Decode git's C-style quoting: ``"caf\\303\\251"`` is UTF-8 bytes as octal escapes."""
    if len(name) < 2 or name[0] != '"' or name[-1] != '"':
        return name
    body, out, done = name[1:-1], bytearray(), 0
    for escape in _C_ESCAPE.finditer(body):
        out += _encode(body[done : escape.start()])
        code = escape.group(1)
        out.append(int(code, 8) if len(code) == 3 else _C_ESCAPES[code])
        done = escape.end()
    out += _encode(body[done:])
    return out.decode("utf-8", errors="replace")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")  # any str, even one holding lone surrogates
