"""A local repository as `reviewer mcp` and `reviewer review --git` read it: real git, real ranges."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.gitrepo import GitRepo

from reviewer.app.local_git import LocalRepository, check_range, git_diff
from reviewer.errors import ReviewerError


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "app", files={"a.py": "x = 1\n", "rules.yaml": "v: 1\n"})
    repo.commit({"a.py": "x = 2\n"}, branch="feature", message="feature")
    repo.commit({"rules.yaml": "v: 2\n"}, branch="main", message="main moves on")
    return repo


def test_the_base_is_where_a_range_changes_start(repo: GitRepo) -> None:
    local = LocalRepository.open(repo.path / ".git" / "..")
    first = repo.run("rev-list", "--max-parents=0", "HEAD").decode().strip()
    main = repo.run("rev-parse", "main").decode().strip()
    assert local.root == repo.path.resolve()
    assert local.base("main..feature") == main  # A of A..B
    assert local.base("main...feature") == first  # the merge base of A...B
    assert local.base("main") == main  # git diff REV: REV against the work tree
    assert local.read(local.base("main...feature"), "rules.yaml") == "v: 1\n"
    assert local.read(main, "rules.yaml") == "v: 2\n"
    assert local.read(main, "missing.yaml") is None


def test_the_diff_of_a_range(repo: GitRepo) -> None:
    local = LocalRepository.open(repo.path)
    diff = local.diff("main...feature")
    assert "+x = 2" in diff and "rules.yaml" not in diff
    (repo.path / "a.py").write_text("x = 3\n")
    assert "+x = 3" in local.diff("HEAD")  # uncommitted changes


@pytest.mark.parametrize("bad", ["", "  ", "-p", "--output=/tmp/x", "HEAD\n--output=x", "a\0b", "x" * 301])
def test_what_is_no_range_is_refused_before_git_runs(bad: str) -> None:
    with pytest.raises(ReviewerError, match="not a revision range"):
        check_range(bad)


def test_git_errors_say_what_failed(repo: GitRepo, tmp_path: Path) -> None:
    local = LocalRepository.open(repo.path)
    with pytest.raises(ReviewerError, match=r"git diff no-such\.\.main failed: .*no-such"):
        local.diff("no-such..main")
    with pytest.raises(ReviewerError, match="no-such"):
        local.base("no-such..main")
    with pytest.raises(ReviewerError, match="is not in a git work tree"):
        LocalRepository.open(tmp_path)
    with pytest.raises(ReviewerError, match="is not a directory"):
        LocalRepository.open(repo.path / "a.py")


def test_the_repository_configuration_runs_no_program(repo: GitRepo, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hook = f"touch {marker}"
    repo.run("config", "diff.external", hook)
    repo.run("config", "core.fsmonitor", hook)
    (repo.path / ".gitattributes").write_text("*.py diff=shout\n")
    repo.run("config", "diff.shout.textconv", hook)
    (repo.path / "a.py").write_text("x = 4\n")
    assert "+x = 4" in git_diff("HEAD", repo.path)
    assert not marker.exists()


def test_the_head_of_a_range_is_its_new_side(repo: GitRepo) -> None:
    local = LocalRepository.open(repo.path)
    repo.run("checkout", "-q", "feature")
    (repo.path / "a.py").write_text("x = 3  # not committed\n")
    assert local.head_reader("main..feature")("a.py") == "x = 2\n"  # B of A..B
    assert local.head_reader("main...feature")("a.py") == "x = 2\n"  # and of A...B
    assert local.head_reader("feature~1..")("a.py") == "x = 2\n"  # A.. is A..HEAD
    assert local.head_reader("HEAD")("a.py") == "x = 3  # not committed\n"  # REV: the work tree
    assert local.head_reader("HEAD")("../outside.py") is None  # never out of the work tree
    assert local.head_reader("HEAD")("missing.py") is None
    assert sorted(local.files("main")) == ["a.py", "rules.yaml"]
