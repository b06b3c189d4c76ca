"""Who may command the bot or override its verdict: access levels from the members API of the GitLab
stand-in, inherited memberships included, cached a few minutes per client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gitlab
import pytest
from fakes.gitlab_people import DEVELOPER, GUEST, MAINTAINER
from fakes.gitlab_reviews import MAINTAINER as MAINTAINER_LEVEL
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.errors import TransientError
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.members import NO_ACCESS, Members, access_level, role_name


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[GitLabStandIn, int]]:
    with GitLabStandIn() as server:
        yield server, server.add_project("group/app", GitRepo.create(tmp_path / "app", files={"a": "1\n"}))


def test_direct_and_inherited_members_have_their_level_and_others_none(
    standin: tuple[GitLabStandIn, int],
) -> None:
    server, pid = standin
    guest, dev, lead, stranger = (
        server.add_user(name)["id"] for name in ("guest", "dev", "lead", "stranger")
    )
    server.add_member(pid, guest, GUEST)
    server.add_member(pid, dev, DEVELOPER, inherited=True)  # through the group only
    server.add_member(pid, lead, MAINTAINER)
    members = GitLabClient(server.url, server.token).members

    assert [members.access_level(pid, u) for u in (guest, dev, lead, stranger)] == [
        GUEST,
        DEVELOPER,
        MAINTAINER,
        0,
    ]
    assert server.requests_to("GET", r"/members/all/")  # the endpoint that includes inherited members


def test_levels_are_cached_and_a_failure_is_not(standin: tuple[GitLabStandIn, int], tmp_path: Path) -> None:
    server, pid = standin
    dev = server.add_user("dev")["id"]
    server.add_member(pid, dev, DEVELOPER)
    api = gitlab.Gitlab(server.url, private_token=server.token, retry_transient_errors=True)
    members = Members(api, retries=0, ttl=300)

    server.fail_next("GET", r"/members/all/", 503)
    with pytest.raises(TransientError):
        members.access_level(pid, dev)
    assert members.access_level(pid, dev) == DEVELOPER
    assert members.access_level(pid, dev) == DEVELOPER
    assert len(server.requests_to("GET", r"/members/all/")) == 2  # the failure, then one read
    assert Members(api, ttl=300).access_level(pid, 10_000) == NO_ACCESS


def test_levels_come_from_the_members_api_and_are_read_once(tmp_path: Path) -> None:
    with GitLabStandIn() as gitlab:
        pid = gitlab.add_project("group/app", GitRepo.create(tmp_path / "app", files={"a.py": "x = 1\n"}))
        alice, stranger = gitlab.add_user("alice")["id"], gitlab.add_user("stranger")["id"]
        gitlab.set_access(pid, alice, MAINTAINER_LEVEL)
        client = GitLabClient(gitlab.url, gitlab.token, max_retries=1)
        assert access_level(client, pid, alice) == MAINTAINER_LEVEL
        assert access_level(client, pid, stranger) == NO_ACCESS  # 404: no member
        assert access_level(client, pid, gitlab.bot.id) == DEVELOPER
        asked = len(gitlab.requests_to("GET", r"/members/all/"))
        gitlab.set_access(pid, alice, DEVELOPER)
        assert access_level(client, pid, alice) == MAINTAINER_LEVEL  # cached for a few minutes
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
