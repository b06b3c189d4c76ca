"""Real git repositories for tests, and diffs computed the way GitLab (Gitaly) computes them.

GitLab's merge request diff is ``git diff --patch --raw --abbrev=40 --full-index
--find-renames=30% <base> <head>`` (Gitaly's CommitDiff), with ``base`` the merge base of the
target branch and the source head. Each file becomes one entry of the merge request diffs API
(doc/api/merge_requests.md, "List merge request diffs"): ``old_path``, ``new_path``, ``a_mode``,
``b_mode`` (octal strings, ``"0"`` for the missing side), ``new_file``, ``renamed_file``,
``deleted_file`` and ``diff``: the patch from the first ``@@`` on, without the ``diff --git`` /
``---`` / ``+++`` header. A binary file's ``diff`` is git's ``Binary files ... differ`` notice
(``Gitlab::Git::Diff#has_binary_notice?``); a mode-only change, a pure rename and an empty new file
have an empty ``diff``. A new file's ``old_path`` equals its ``new_path``, and so do a deleted
file's.

Commits are deterministic: fixed author, committer and dates (one minute apart per commit), and
no global or system git configuration is read.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FileContent = str | bytes | None  # None deletes the file
DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--full-index", "--abbrev=40", "--find-renames=30%")
EPOCH = 1_714_557_600  # 2024-05-01T10:00:00Z


class GitError(RuntimeError):
    """A git command failed; the message carries its stderr."""


class GitRepo:
    """A repository in a directory, driven through the ``git`` command line."""

    def __init__(self, path: Path, default_branch: str = "main") -> None:
        self.path = Path(path)
        self.default_branch = default_branch
        self._commits = 0

    @classmethod
    def create(
        cls,
        path: Path,
        default_branch: str = "main",
        files: Mapping[str, FileContent] | None = None,
        message: str = "Initial commit",
    ) -> GitRepo:
        """``git init`` in ``path`` with ``default_branch``; commits ``files`` when given."""
        repo = cls(path, default_branch)
        repo.path.mkdir(parents=True, exist_ok=True)
        repo.run("init", "-q", f"--initial-branch={default_branch}")
        for key, value in (
            ("core.autocrlf", "false"),
            ("core.quotepath", "false"),
            ("core.fileMode", "true"),
            ("commit.gpgsign", "false"),
        ):
            repo.run("config", key, value)
        if files is not None:
            repo.commit(files, message=message)
        return repo

    # -- running git ---------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        date = f"{EPOCH + 60 * self._commits} +0000"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            HOME=str(self.path),
            LC_ALL="C",
            GIT_AUTHOR_NAME="Test Author",
            GIT_AUTHOR_EMAIL="author@example.com",
            GIT_AUTHOR_DATE=date,
            GIT_COMMITTER_NAME="Test Committer",
            GIT_COMMITTER_EMAIL="committer@example.com",
            GIT_COMMITTER_DATE=date,
        )
        return env

    def run(self, *args: str, input: bytes | None = None) -> bytes:
        """Run ``git -c core.quotepath=false <args>`` here; stdout as bytes, ``GitError`` on failure."""
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=false", *args],
            cwd=self.path,
            env=self._env(),
            input=input,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def text(self, *args: str) -> str:
        """``run`` decoded as UTF-8, surrounding whitespace stripped."""
        return self.run(*args).decode("utf-8", errors="replace").strip()

    # -- writing -------------------------------------------------------------------------------

    def commit(
        self,
        files: Mapping[str, FileContent] | None = None,
        *,
        message: str = "Change",
        branch: str | None = None,
        renames: Mapping[str, str] | None = None,
        executable: Mapping[str, bool] | None = None,
        allow_empty: bool = False,
    ) -> str:
        """Commit on ``branch`` (created from the default branch if missing; the checked-out
        branch when None); returns the new SHA.

        ``renames`` ({old: new}) are applied first with ``git mv``; then ``files`` ({path: text,
        bytes, or None to delete}) are written byte for byte (no newline translation); then
        ``executable`` ({path: bool}) sets or clears the executable bit.
        """
        if branch is not None:
            self.checkout(branch, create=True)
        for old, new in (renames or {}).items():
            (self.path / new).parent.mkdir(parents=True, exist_ok=True)
            self.run("mv", "--", old, new)
        for path, content in (files or {}).items():
            self._write(path, content)
        for path, flag in (executable or {}).items():
            target = self.path / path
            target.chmod(target.stat().st_mode | 0o111 if flag else target.stat().st_mode & ~0o111)
        self.run("add", "-A")
        for path, flag in (executable or {}).items():  # also where the file system has no x bit
            self.run("update-index", f"--chmod={'+' if flag else '-'}x", "--", path)
        self.run("commit", "-q", "--no-verify", "-m", message, *(["--allow-empty"] if allow_empty else []))
        self._commits += 1
        return self.rev_parse("HEAD")

    def _write(self, path: str, content: FileContent) -> None:
        target = self.path / path
        if content is None:
            self.run("rm", "-q", "--", path)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    def rename(
        self,
        old: str,
        new: str,
        content: FileContent = None,
        *,
        message: str = "Rename",
        branch: str | None = None,
    ) -> str:
        """``git mv old new`` (and rewrite ``new`` with ``content`` when given), committed."""
        files = {new: content} if content is not None else {}
        return self.commit(files, message=message, branch=branch, renames={old: new})

    def chmod(
        self, path: str, executable: bool = True, *, message: str = "Change mode", branch: str | None = None
    ) -> str:
        """A commit that only changes ``path``'s executable bit."""
        return self.commit(message=message, branch=branch, executable={path: executable})

    def branch(self, name: str, start: str | None = None) -> str:
        """Create branch ``name`` at ``start`` (default branch by default); returns its SHA."""
        self.run("branch", name, start or self.default_branch)
        return self.rev_parse(name)

    def checkout(self, name: str, create: bool = False) -> None:
        """Switch the work tree to ``name``; with ``create``, make it from the default branch if missing."""
        if create and name not in self.branches():
            self.run("checkout", "-q", "-b", name, self.default_branch)
        else:
            self.run("checkout", "-q", name)

    # -- reading -------------------------------------------------------------------------------

    def rev_parse(self, ref: str) -> str:
        """The full SHA of ``ref``."""
        return self.text("rev-parse", "--verify", f"{ref}^{{commit}}")

    def branches(self) -> dict[str, str]:
        """{branch name: head SHA}."""
        out = self.text("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/")
        pairs = (line.rsplit(" ", 1) for line in out.splitlines() if line)
        return {name: sha for name, sha in pairs}

    def merge_base(self, a: str, b: str) -> str:
        """``git merge-base a b``."""
        return self.text("merge-base", a, b)

    def read_file(self, ref: str, path: str) -> bytes | None:
        """The bytes of ``path`` at ``ref``, or None when it does not exist there."""
        try:
            return self.run("cat-file", "blob", f"{ref}:{path}")
        except GitError:
            return None

    def commit_info(self, sha: str) -> dict[str, Any]:
        """A commit as the commits API shows it (id, short_id, title, message, author, dates...)."""
        fmt = "%H%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%P%x00%B"
        fields = self.run("show", "-s", f"--format={fmt}", sha).decode("utf-8", errors="replace").split("\0")
        full, an, ae, ad, cn, ce, cd, parents, body = fields
        message = body.rstrip("\n") + "\n"
        return {
            "id": full,
            "short_id": full[:8],
            "title": message.split("\n", 1)[0],
            "message": message,
            "author_name": an,
            "author_email": ae,
            "authored_date": ad,
            "committer_name": cn,
            "committer_email": ce,
            "committed_date": cd,
            "created_at": cd,
            "parent_ids": parents.split(),
        }

    def commits_between(self, base: str, head: str) -> list[dict[str, Any]]:
        """Commits in ``head`` but not ``base``, newest first (as the MR commits/versions API lists them)."""
        shas = self.text("rev-list", f"{base}..{head}").split()
        return [self.commit_info(sha) for sha in shas]

    def raw_diff(self, base: str, head: str) -> str:
        """The whole ``git diff`` between two commits, headers included (``/raw_diffs``)."""
        return self.run("diff", *DIFF_OPTIONS, base, head).decode("utf-8", errors="replace")

    def file_diffs(self, base: str, head: str) -> list[dict[str, Any]]:
        """One GitLab diff entry per changed file between ``base`` and ``head``, in git's order."""
        entries = _parse_raw(self.run("diff", "--raw", "-z", *DIFF_OPTIONS, base, head))
        patches = _split_patch(self.run("diff", "--patch", *DIFF_OPTIONS, base, head))
        if len(entries) != len(patches):
            raise GitError(f"diff {base}..{head}: {len(entries)} raw entries but {len(patches)} patches")
        for entry, patch in zip(entries, patches, strict=True):
            entry["diff"] = patch
        return entries


def _parse_raw(out: bytes) -> list[dict[str, Any]]:
    """``git diff --raw -z``: ``:<a_mode> <b_mode> <a_sha> <b_sha> <status>\\0<path>[\\0<path>]\\0``."""
    tokens = out.split(b"\0")
    entries: list[dict[str, Any]] = []
    i = 0
    while i < len(tokens) and tokens[i].startswith(b":"):
        a_mode, b_mode, _a_sha, _b_sha, status = tokens[i][1:].decode().split()
        paths = [tokens[i + 1].decode("utf-8", errors="replace")]
        i += 2
        if status[0] in "RC":
            paths.append(tokens[i].decode("utf-8", errors="replace"))
            i += 1
        old_path, new_path = paths[0], paths[-1]
        entries.append(
            {
                "old_path": old_path,
                "new_path": new_path,
                "a_mode": format(int(a_mode, 8), "o"),
                "b_mode": format(int(b_mode, 8), "o"),
                "new_file": status == "A",
                "renamed_file": old_path != new_path,
                "deleted_file": status == "D",
            }
        )
    return entries


def _split_patch(out: bytes) -> list[str]:
    """Each file's patch from its first ``@@`` (or binary notice) on; empty when it has none."""
    patches = []
    for section in re.split(rb"(?m)^(?=diff --git )", out):  # content lines never start at column 0
        if not section:
            continue
        lines = section.split(b"\n")
        start = next(
            (n for n, ln in enumerate(lines) if ln.startswith((b"@@ ", b"Binary files "))), len(lines)
        )
        patches.append(b"\n".join(lines[start:]).decode("utf-8", errors="replace"))
    return patches
