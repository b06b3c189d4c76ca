"""Who may read the pages: off beyond loopback without a token; with one, a bearer header, or a
one-time ``?token=`` that leaves a cookie holding an HMAC of the token, never the token."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from reviewer.app.access import COOKIE, Denied, TokenGate, is_loopback, pages_enabled, session_value

TOKEN = "ui-token-0123456789"


@pytest.mark.parametrize(
    ("host", "token", "enabled"),
    [
        ("127.0.0.1", None, True),
        ("127.0.0.2", None, True),
        ("::1", None, True),
        ("[::1]", None, True),
        ("localhost", None, True),
        ("0.0.0.0", None, False),
        ("::", None, False),
        ("10.1.2.3", None, False),
        ("reviewer.internal", None, False),
        ("0.0.0.0", TOKEN, True),
        ("0.0.0.0", "", False),
    ],
)
def test_pages_are_on_for_loopback_or_with_a_token(host: str, token: str | None, enabled: bool) -> None:
    assert pages_enabled(host, token) is enabled
    assert is_loopback(host) is (enabled and not token)


def _client(token: str | None, *, base_url: str = "http://127.0.0.1:8080") -> TestClient:
    gate = TokenGate(token, cookie_path="/ui")

    async def page(request: Request) -> Response:
        decision = gate.check(request)
        if isinstance(decision, Denied):
            return PlainTextResponse(decision.reason, status_code=401)
        return decision or PlainTextResponse("the page")

    app = Starlette(routes=[Route("/ui/team", page)])
    return TestClient(app, base_url=base_url, follow_redirects=False)


def test_without_a_token_configured_every_request_naming_a_loopback_host_is_let_through() -> None:
    for base_url in ("http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"):
        assert _client(None, base_url=base_url).get("/ui/team").text == "the page"


def test_without_a_token_a_request_for_another_host_name_is_refused() -> None:
    # A page of attacker.example whose name now resolves to 127.0.0.1 (DNS rebinding)
    response = _client(None, base_url="http://attacker.example:8080").get("/ui/team")
    assert response.status_code == 401
    assert "127.0.0.1" in response.text
    assert (
        _client(TOKEN, base_url="http://reviewer.example")
        .get("/ui/team", headers={"Authorization": f"Bearer {TOKEN}"})
        .status_code
        == 200
    )  # with a token, any host name: the token is the check


def test_with_a_token_a_request_without_it_is_refused() -> None:
    response = _client(TOKEN).get("/ui/team")
    assert response.status_code == 401
    assert "REVIEWER_UI_TOKEN" in response.text


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
        ("Bearer wrong-token", 401),
        (f"Basic {TOKEN}", 401),
        (f"Bearer {TOKEN}x", 401),
        ("Bearer ", 401),
    ],
)
def test_a_bearer_header_must_carry_the_token(header: str, status: int) -> None:
    assert _client(TOKEN).get("/ui/team", headers={"Authorization": header}).status_code == status


def test_the_token_in_the_query_sets_a_strict_cookie_and_leaves_the_address() -> None:
    client = _client(TOKEN)
    response = client.get("/ui/team", params={"name": "payments", "token": TOKEN})

    assert response.status_code == 303
    assert response.headers["location"] == "/ui/team?name=payments"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={session_value(TOKEN)};")
    assert TOKEN not in cookie
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/ui", "Max-Age=28800"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would never come back
    assert client.get("/ui/team", params={"name": "payments"}).text == "the page"  # the cookie came back


def test_over_https_the_cookie_is_secure() -> None:
    response = _client(TOKEN, base_url="https://reviewer.example").get("/ui/team", params={"token": TOKEN})
    assert "Secure" in response.headers["set-cookie"]


def test_a_wrong_token_in_the_query_sets_nothing() -> None:
    response = _client(TOKEN).get("/ui/team", params={"token": "guess"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_a_forged_or_stale_cookie_is_refused() -> None:
    client = _client(TOKEN)
    client.cookies.set(COOKIE, TOKEN)  # the token itself is not the session value
    assert client.get("/ui/team").status_code == 401
    client.cookies.set(COOKIE, session_value("the-previous-token"))  # the token was changed since
    assert client.get("/ui/team").status_code == 401
    client.cookies.set(COOKIE, session_value(TOKEN))
    assert client.get("/ui/team").status_code == 200
