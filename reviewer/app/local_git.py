"""A local git repository, read the way ``reviewer review --git`` and ``reviewer mcp`` need it: the
diff of a revision range, the revision whose rules apply to it, and files as a revision has them.

git runs with its arguments as a list (no shell), a range that git could take for an option is
refused, and the repository's own configuration cannot run a program: no external diff or textconv
driver, no fsmonitor hook.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Collection
from pathlib import Path

from reviewer.errors import ReviewerError

_GIT = ["git", "-c", "core.quotepath=false", "-c", "core.fsmonitor=false"]
_TIMEOUT = 120.0  # seconds; a diff of a huge range takes a while, a hung git must not hang a server
_MAX_RANGE = 300


def git_diff(rev_range: str, cwd: Path | None = None) -> str:
    """``git diff REV_RANGE`` of the repository at ``cwd`` (the current directory by default)."""
    check_range(rev_range)
    options = ["--no-color", "--no-ext-diff", "--no-textconv", "-M"]
    return _run(["diff", *options, "--end-of-options", rev_range, "--"], cwd, what=f"git diff {rev_range}")


def check_range(rev_range: str) -> None:
    """Refuse what is no revision range: empty, an option (``-``...), or a line break or NUL."""
    if not rev_range.strip() or rev_range.startswith("-") or len(rev_range) > _MAX_RANGE:
        raise ReviewerError(f"not a revision range: {rev_range[:60]!r} (e.g. main..HEAD, HEAD~1)")
    if any(c in rev_range for c in "\0\r\n"):
        raise ReviewerError("not a revision range: it holds a line break or NUL")


class LocalRepository:
    """A git work tree on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls, path: str | Path) -> LocalRepository:
        """The work tree holding ``path``; ReviewerError when there is none."""
        directory = Path(path).expanduser()
        if not directory.is_dir():
            raise ReviewerError(f"{path} is not a directory")
        try:
            top = _run(["rev-parse", "--show-toplevel"], directory, what=str(path))
        except ReviewerError:
            raise ReviewerError(f"{path} is not in a git work tree") from None
        return cls(Path(top.strip()))

    def diff(self, rev_range: str) -> str:
        return git_diff(rev_range, self.root)

    def base(self, rev_range: str) -> str:
        """The commit a range's changes are made on: ``A`` of ``A..B``, the merge base of
        ``A...B``, the revision itself for ``git diff REV`` (REV against the work tree)."""
        check_range(rev_range)
        revisions = _run(["rev-parse", "--revs-only", rev_range], self.root, what=rev_range).split()
        excluded = [r[1:] for r in revisions if r.startswith("^")]
        if excluded:
            return excluded[0]
        if not revisions:
            raise ReviewerError(f"{rev_range} names no revision")
        return revisions[0]

    def head_reader(self, rev_range: str) -> Callable[[str], str | None]:
        """Files as the new side of ``git diff REV_RANGE`` has them: ``B`` of ``A..B`` and
        ``A...B`` (HEAD when left out), the work tree for ``git diff REV``."""
        check_range(rev_range)
        for separator in ("...", ".."):
            if separator in rev_range:
                return self.reader(rev_range.split(separator, 1)[1] or "HEAD")
        return self.read_work_tree

    def read_work_tree(self, path: str) -> str | None:
        """A file of the work tree, or None when it has none (or the path leads out of it)."""
        root = self.root.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        try:
            return target.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return None

    def reader(self, revision: str, *, only: Collection[str] | None = None) -> Callable[[str], str | None]:
        """Files as ``revision`` has them: path -> text, or None when it has no such file (or,
        with ``only``, the path is not one of those: no git process is started for it)."""
        wanted = set(only) if only is not None else None
        return lambda path: self.read(revision, path) if wanted is None or path in wanted else None

    def files(self, revision: str = "HEAD") -> list[str]:
        """The paths of every file ``revision`` holds."""
        listing = _run(
            ["ls-tree", "-r", "-z", "--name-only", revision], self.root, what=f"files of {revision}"
        )
        return [path for path in listing.split("\0") if path]

    def read(self, revision: str, path: str) -> str | None:
        try:
            return _run(["cat-file", "blob", f"{revision}:{path}"], self.root, what=path)
        except ReviewerError:
            return None


def _run(arguments: list[str], cwd: Path | None, *, what: str) -> str:
    try:
        done = subprocess.run(
            [*_GIT, *arguments], cwd=cwd, capture_output=True, check=False, timeout=_TIMEOUT
        )
    except FileNotFoundError:
        raise ReviewerError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise ReviewerError(f"{what}: git did not finish within {_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise ReviewerError(f"{what} failed: {detail[0] if detail else f'git exit {done.returncode}'}")
    return done.stdout.decode("utf-8", errors="replace")
