"""A Backstage catalog stand-in on loopback: ``GET /api/catalog/entities/by-query`` with filters.

Follows Backstage's software catalog API page: ``filter=key=value,key2=value2`` (conditions in one
filter must all hold; several ``filter`` parameters are alternatives), keys are dotted paths into
the entity (``metadata.annotations.gitlab.com/project-slug``), matching ignores case, and the
answer is ``{"items": [...], "totalItems": n, "pageInfo": {}}``. A configured token must come as
``Authorization: Bearer <token>``, else 401.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            yield from _flatten(item, prefix)
    else:
        yield prefix.rstrip("."), str(value)


class BackstageStandIn:
    def __init__(self, entities: list[dict[str, Any]], *, token: str | None = "backstage-token") -> None:
        self.entities = entities
        self.token = token
        self.requests: list[dict[str, Any]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> BackstageStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        self.requests.append({"path": url.path, "query": query, "auth": handler.headers.get("Authorization")})
        if self.token and handler.headers.get("Authorization") != f"Bearer {self.token}":
            error = {"name": "AuthenticationError", "message": "Missing credentials"}
            return self._send(handler, 401, {"error": error})
        if url.path != "/api/catalog/entities/by-query":
            return self._send(handler, 404, {"error": {"name": "NotFoundError", "message": "Not found"}})
        filters = query.get("filter", [])
        items = [e for e in self.entities if not filters or any(self._matches(e, f) for f in filters)]
        limit = int(query.get("limit", ["20"])[0])
        self._send(handler, 200, {"items": items[:limit], "totalItems": len(items), "pageInfo": {}})

    @staticmethod
    def _matches(entity: dict[str, Any], filter_: str) -> bool:
        flat = list(_flatten(entity))
        for condition in filter_.split(","):
            key, _, wanted = condition.partition("=")
            if not any(k.lower() == key.lower() and v.lower() == wanted.lower() for k, v in flat):
                return False
        return True

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
