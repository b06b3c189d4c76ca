"""Who may read the intake's pages (reviewer.app.pages).

The pages are off unless ``REVIEWER_UI_TOKEN`` is set or the intake is bound to a loopback address
(``REVIEWER_HOST`` 127.0.0.1, ::1 or localhost: only this machine reaches them). Without a token,
a request must also name a loopback host in its ``Host`` header, so that a web page whose domain
is re-pointed at 127.0.0.1 (DNS rebinding) cannot read them from the user's browser. With a token,
every request needs it, on loopback too (a reverse proxy on the same machine makes loopback public):

- ``Authorization: Bearer <token>``, for scripts; or
- once ``?token=<token>`` in a browser: the answer sets a cookie and redirects to the same page
  without the token, so that it stays out of the address bar, the history and Referer headers.
  The cookie is ``HttpOnly; SameSite=Strict`` (``Secure`` over https), lives 8 hours, is limited to
  the pages' path, and holds an HMAC of the token, not the token: changing the token ends every
  session.

Every comparison is constant-time. Nothing here is a write: the pages are read-only, so a cookie
that a cross-site request carries could not change anything (and SameSite=Strict keeps it home).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "reviewer_ui"
COOKIE_SECONDS = 8 * 3600
_SESSION_MESSAGE = b"reviewer pages session v1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def pages_enabled(host: str, token: str | None) -> bool:
    return bool(token) or is_loopback(host)


def session_value(token: str) -> str:
    """The cookie's value: proof that its holder knew the token, without being the token."""
    return hmac.new(token.encode(), _SESSION_MESSAGE, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Denied:
    reason: str


class TokenGate:
    """Decides for each request: let it through (None), redirect it with a new session cookie, or
    refuse it (``Denied``: the page answers 401 with a form for the token)."""

    def __init__(self, token: str | None, *, cookie_path: str) -> None:
        self._token = token
        self._session = session_value(token) if token else ""
        self._cookie_path = cookie_path

    @property
    def required(self) -> bool:
        return bool(self._token)

    def check(self, request: Request) -> Response | Denied | None:
        if not self._token:
            if is_loopback(request.url.hostname or ""):
                return None
            return Denied("without a token these pages answer only to 127.0.0.1, ::1 or localhost")
        given = request.query_params.get("token")
        if given is not None:
            if not _same(given, self._token):
                return Denied("that token is not the one this bot was given")
            return self._signed_in(request)
        authorization = request.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and _same(credentials.strip(), self._token):
            return None
        if _same(request.cookies.get(COOKIE, ""), self._session):
            return None
        return Denied("these pages need the token (REVIEWER_UI_TOKEN)")

    def _signed_in(self, request: Request) -> Response:
        clean = request.url.remove_query_params("token")
        target = clean.path + (f"?{clean.query}" if clean.query else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            self._session,
            max_age=COOKIE_SECONDS,
            path=self._cookie_path,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())
