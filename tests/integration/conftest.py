"""Integration fixtures: after every test, each GitLab stand-in it made checks the notes the bot
wrote. A note GitLab would act on (a quick action) or that holds an @mention, an image, raw HTML or
a non-http(s) link fails the test, whichever path wrote it; so a new piece of text that reaches
GitLab without the renderer fails somewhere here.

``scene``: a project owned by team payments, with the GitLab and gateway stand-ins and the ledger
in an embedded Redis shared by the session (``harness.Scene`` says what it offers)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.gateway_server import FakeGateway
from fakes.gitlab_server import LIVE, GitLabStandIn
from fakes.gitrepo import GitRepo
from harness import CATALOG_INFO, Scene

from reviewer.app.config import SHIPPED_PROMPTS
from reviewer.app.embedded_redis import EmbeddedRedis
from reviewer.app.state import ReviewLedger, connect


@pytest.fixture(autouse=True)
def bot_notes_cannot_act(request: pytest.FixtureRequest) -> Iterator[None]:
    before = max(LIVE.keys(), default=0)
    yield
    made = [LIVE.pop(serial) for serial in list(LIVE) if serial > before]
    if request.node.get_closest_marker("unsafe_notes"):
        return
    for standin in made:
        assert standin.bot_note_problems() == []


@pytest.fixture(scope="session")
def scene_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def scene(tmp_path: Path, scene_redis: str) -> Iterator[Scene]:
    """Project group/app owned by team payments; ``app/io.py`` (30 lines) on main. Tests commit on
    ``feature`` and open the MR with ``open_mr``."""
    client = connect(scene_redis)
    client.flushall()
    prompts = tmp_path / "prompts"
    shutil.copytree(SHIPPED_PROMPTS, prompts, ignore=shutil.ignore_patterns("teams"))
    (prompts / "teams").mkdir()
    lines = "".join(f"value_{n} = {n}\n" for n in range(1, 31))
    repo = GitRepo.create(
        tmp_path / "app",
        files={"app/io.py": lines, "README.md": "# app\n", "catalog-info.yaml": CATALOG_INFO},
    )
    with GitLabStandIn() as gitlab, FakeGateway() as gateway:
        built = Scene(
            gitlab, gateway, repo, ReviewLedger(client), prompts, gitlab.add_project("group/app", repo)
        )
        gateway.responder = built.answer
        yield built
    client.close()
