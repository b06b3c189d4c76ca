"""The GitLab stand-in's HTTP values, shared by ``fakes.gitlab_server`` and the modules that add
routes to it (``fakes.gitlab_reviews``): the error answer, a request as the routes see it, a
response, and the pure parameter helpers (positions as GitLab stores them, Grape's booleans)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes.gitlab_server import User

Json = dict[str, Any]


class ApiError(Exception):
    """An HTTP error answer: ``status`` and the JSON ``body`` GitLab would send."""

    def __init__(self, status: int, body: Json, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found(what: str) -> ApiError:
    return ApiError(404, {"message": f"404 {what} Not Found"})


def _bad_request(message: str) -> ApiError:
    return ApiError(400, {"error": message})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    query_pairs: list[tuple[str, str]]
    params: Json  # query and body merged, as Grape sees them
    headers: dict[str, str]
    body: Json | None = None
    user: User | None = None


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def normalize_position(position: Json) -> Json:
    """The position as GitLab stores and returns it (lines as integers, absent ones null)."""

    def as_int(value: Any) -> int | None:
        return None if value in (None, "") else int(value)

    normalized = {
        key: position.get(key) for key in ("base_sha", "start_sha", "head_sha", "old_path", "new_path")
    }
    normalized.update(
        position_type="text",
        old_line=as_int(position.get("old_line")),
        new_line=as_int(position.get("new_line")),
        ignore_whitespace_change=False,
    )
    line_range = position.get("line_range")
    if line_range:
        normalized["line_range"] = {
            side: {
                "line_code": end.get("line_code"),
                "type": end.get("type"),
                "old_line": as_int(end.get("old_line")),
                "new_line": as_int(end.get("new_line")),
            }
            for side, end in line_range.items()
            if side in ("start", "end")
        }
    else:
        normalized["line_range"] = None
    return normalized


def _bool_param(params: Json, key: str, required: bool = False) -> bool | None:
    value = params.get(key)
    if value is None:
        if required:
            raise _bad_request(f"{key} is missing")
        return None
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "t", "yes", "y"):
        return True
    if str(value).lower() in ("false", "0", "f", "no", "n"):
        return False
    raise _bad_request(f"{key} is invalid")
