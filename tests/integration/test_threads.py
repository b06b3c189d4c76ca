"""One thread read from the GitLab stand-in, as the bot reads the one a person wrote in: its notes
in order, whether it is resolved, and where a diff thread sits."""

from __future__ import annotations

from pathlib import Path

from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.diff.positions import Inline, LineIndex
from reviewer.gitlab import markdown
from reviewer.gitlab.client import GitLabClient
from reviewer.review.findings import Side


def test_a_diff_thread_with_a_reply_is_read_with_its_position_and_a_deleted_one_is_none(
    tmp_path: Path,
) -> None:
    repo = GitRepo.create(tmp_path / "app", files={"a.py": "x = 1\ny = 2\n"})
    repo.commit({"a.py": "x = 1\ny = 3\n"}, branch="f")
    with GitLabStandIn() as server:
        pid = server.add_project("group/app", repo)
        iid = server.open_mr(pid, "f")
        client = GitLabClient(server.url, server.token)
        _, diff = client.fetch_diff(pid, iid)
        placed = LineIndex(diff.files, diff.refs).place("a.py", 2, Side.NEW)
        assert isinstance(placed, Inline)
        discussion = client.create_thread(pid, iid, markdown.note("A finding."), placed.position)
        reply = server.add_note(pid, iid, "Why?", discussion_id=discussion)

        thread = client.threads.get(pid, iid, discussion)

        assert thread is not None
        assert [n.body for n in thread.notes] == ["A finding.", "Why?"]
        assert (thread.path, thread.line, thread.side) == ("a.py", 2, Side.NEW)
        assert thread.resolvable and not thread.resolved
        assert thread.first.author_id == server.bot.id and thread.note(reply["id"]) is not None
        assert client.threads.containing(pid, iid, reply["id"]) == thread
        assert client.threads.get(pid, iid, "0" * 40) is None
        assert client.threads.containing(pid, iid, 10_000) is None
