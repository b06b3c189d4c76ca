"""Integration fixtures: after every test, each GitLab stand-in it made checks the notes the bot
wrote. A note GitLab would act on (a quick action) or that holds an @mention, an image, raw HTML or
a non-http(s) link fails the test, whichever path wrote it; so a new piece of text that reaches
GitLab without the renderer fails somewhere here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.gitlab_server import LIVE


@pytest.fixture(autouse=True)
def bot_notes_cannot_act(request: pytest.FixtureRequest) -> Iterator[None]:
    before = max(LIVE.keys(), default=0)
    yield
    made = [LIVE.pop(serial) for serial in list(LIVE) if serial > before]
    if request.node.get_closest_marker("unsafe_notes"):
        return
    for standin in made:
        assert standin.bot_note_problems() == []
