"""Property: what LineIndex calls commentable is exactly what GitLab accepts, on diffs real git made.

Old and new contents are generated, diffed with ``git diff --no-index`` (as GitLab's Gitaly runs
git), cut to GitLab's per-file form (from the first ``@@``), and parsed with parse_gitlab_diffs.
Then for every line number on each side, and a little beyond: a line LineIndex places inline
without moving it must give a position the strict GitLab rules (tests/fakes/gitlab_rules.py)
accept; a line GitLab would refuse must be refused by LineIndex first (summary, or moved onto a
line GitLab accepts).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest
from fakes.gitlab_rules import check_position, positions_for_file
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewer.diff.parsing import DiffRefs, parse_gitlab_diffs
from reviewer.diff.positions import MAX_MOVE, Inline, LineIndex
from reviewer.gitlab.client import position_payload
from reviewer.review.findings import Side

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="git is not installed")

REFS = DiffRefs(base_sha="1" * 40, start_sha="2" * 40, head_sha="3" * 40)
PATHS = ["app.py", "dir with space/caf\u00e9.py"]
_WORDS = st.sampled_from(["a", "b", "c", "x = 1", "", "}", "return y", "# ü"])


@st.composite
def changes(draw: st.DrawFn) -> tuple[list[str] | None, list[str] | None]:
    """(old lines, new lines); None is a missing file (an added or a deleted one)."""
    old = draw(st.lists(_WORDS, max_size=30))
    new: list[str] = []
    for line in old:
        op = draw(st.sampled_from(["keep"] * 5 + ["delete", "replace", "insert"]))
        if op == "insert":
            new.extend([draw(_WORDS), line])
        elif op == "replace":
            new.append(draw(_WORDS) + "!")
        elif op == "keep":
            new.append(line)
    new.extend(draw(st.lists(_WORDS, max_size=3)))
    shape = draw(st.sampled_from(["modified"] * 6 + ["added", "deleted"]))
    return (None if shape == "added" else old), (None if shape == "deleted" else new)


def content(lines: list[str], *, final_newline: bool, crlf: bool) -> bytes:
    eol = "\r\n" if crlf else "\n"
    text = eol.join(lines) + (eol if final_newline and lines else "")
    return text.encode()


def gitlab_diff(old: bytes | None, new: bytes | None) -> str:
    """GitLab's per-file ``diff``: git's output from the first hunk header on."""
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for name, data in (("old", old), ("new", new)):
            if data is None:
                names.append(os.devnull)
                continue
            (Path(tmp) / name).write_bytes(data)
            names.append(name)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
        done = subprocess.run(
            [GIT or "git", "diff", "--no-index", "--no-color", "--no-ext-diff", "-U3", "--", *names],
            cwd=tmp,
            env=env,
            capture_output=True,
            check=False,
        )
    assert done.returncode in (0, 1), done.stderr
    text = done.stdout.decode()
    first_hunk = re.search(r"^@@ ", text, re.MULTILINE)
    return text[first_hunk.start() :] if first_hunk else ""


payload = position_payload  # the real converter, as the publisher sends it


@settings(max_examples=60, deadline=None)
@given(
    change=changes(),
    path=st.sampled_from(PATHS),
    old_newline=st.booleans(),
    new_newline=st.booleans(),
    crlf=st.booleans(),
    span=st.integers(1, 4),
)
def test_commentable_lines_are_exactly_those_gitlab_accepts(
    change: tuple[list[str] | None, list[str] | None],
    path: str,
    old_newline: bool,
    new_newline: bool,
    crlf: bool,
    span: int,
) -> None:
    old, new = change
    old_bytes = None if old is None else content(old, final_newline=old_newline, crlf=crlf)
    new_bytes = None if new is None else content(new, final_newline=new_newline, crlf=crlf)
    entry = {
        "old_path": path,
        "new_path": path,
        "diff": gitlab_diff(old_bytes, new_bytes),
        "new_file": old is None,
        "deleted_file": new is None,
        "renamed_file": False,
    }
    (file,) = parse_gitlab_diffs([entry])
    assert file.not_reviewed is None
    index = LineIndex([file], REFS)
    refs = asdict(REFS)
    accepted = {(p["old_line"], p["new_line"]) for p in positions_for_file(entry, refs)}

    for side, count in ((Side.NEW, len(new or [])), (Side.OLD, len(old or []))):
        gitlab_lines = {pair[0 if side is Side.OLD else 1] for pair in accepted} - {None}
        for number in range(1, count + MAX_MOVE + 2):
            commentable = index.is_commentable(path, number, side)
            assert commentable is (number in gitlab_lines), (side, number)
            placed = index.place(path, number, side)
            if isinstance(placed, Inline):
                assert placed.moved is not commentable
                assert check_position([entry], refs, payload(placed.position)) is None, (side, number)
                if commentable:
                    line = placed.position.new_line if side is Side.NEW else placed.position.old_line
                    assert line == number
            else:
                assert not commentable
            ranged = index.place(path, number, side, number + span)
            if isinstance(ranged, Inline):
                assert check_position([entry], refs, payload(ranged.position)) is None, (side, number, span)
