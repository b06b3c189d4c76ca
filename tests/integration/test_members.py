"""Who may command the bot: access levels from the members API of the GitLab stand-in, inherited
memberships included, cached a few minutes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gitlab
import pytest
from fakes.gitlab_people import DEVELOPER, GUEST, MAINTAINER
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.errors import TransientError
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.members import NO_ACCESS, Members


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
