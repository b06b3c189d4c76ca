"""Emoji reactions on notes, against the GitLab stand-in: the bot's acknowledgement is added once
however often it is asked for, and every reaction is read back with its author."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.errors import GitLabError
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.reactions import Reaction


def test_an_acknowledgement_is_added_once_and_reactions_are_read_with_their_authors(tmp_path: Path) -> None:
    repo = GitRepo.create(tmp_path / "app", files={"a.py": "x = 1\n"})
    repo.commit({"a.py": "x = 2\n"}, branch="f")
    with GitLabStandIn() as server:
        pid = server.add_project("group/app", repo)
        iid = server.open_mr(pid, "f")
        person = server.add_user("dev")["id"]
        note = server.add_note(pid, iid, "/ai-review", author_id=person)["id"]
        server.add_award(pid, iid, note, "thumbsup", person)
        client = GitLabClient(server.url, server.token)

        client.reactions.add(pid, iid, note, "eyes")
        client.reactions.add(pid, iid, note, "eyes")  # a retried task: GitLab says it is there already

        assert sorted(client.reactions.on_note(pid, iid, note), key=lambda r: r.name) == [
            Reaction(server.bot.id, "eyes"),
            Reaction(person, "thumbsup"),
        ]
        with pytest.raises(GitLabError, match="not a valid emoji name"):
            client.reactions.add(pid, iid, note, "no-such-emoji")
        with pytest.raises(GitLabError) as gone:
            client.reactions.on_note(pid, iid, 10_000)
        assert gone.value.status == 404
