"""A user's access level in a project, from the Members API, cached a few minutes per client."""

from __future__ import annotations

from pathlib import Path

from fakes.gitlab_reviews import MAINTAINER
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.members import DEVELOPER, NO_ACCESS, access_level, role_name


def test_levels_come_from_the_members_api_and_are_read_once(tmp_path: Path) -> None:
    with GitLabStandIn() as gitlab:
        pid = gitlab.add_project("group/app", GitRepo.create(tmp_path / "app", files={"a.py": "x = 1\n"}))
        alice, stranger = gitlab.add_user("alice")["id"], gitlab.add_user("stranger")["id"]
        gitlab.set_access(pid, alice, MAINTAINER)
        client = GitLabClient(gitlab.url, gitlab.token, max_retries=1)
        assert access_level(client, pid, alice) == MAINTAINER
        assert access_level(client, pid, stranger) == NO_ACCESS  # 404: no member
        assert access_level(client, pid, gitlab.bot.id) == DEVELOPER
        asked = len(gitlab.requests_to("GET", r"/members/all/"))
        gitlab.set_access(pid, alice, DEVELOPER)
        assert access_level(client, pid, alice) == MAINTAINER  # cached for a few minutes
        assert len(gitlab.requests_to("GET", r"/members/all/")) == asked == 3
        assert access_level(GitLabClient(gitlab.url, gitlab.token), pid, alice) == DEVELOPER  # another client


def test_role_names() -> None:
    assert [role_name(n) for n in (0, 10, 20, 30, 35, 40, 50)] == [
        "no member",
        "Guest",
        "Reporter",
        "Developer",
        "Developer",
        "Maintainer",
        "Owner",
    ]
