"""Cloudflare AI Gateway's request headers (developers.cloudflare.com/ai-gateway).

``cf-aig-metadata``: a flat JSON object of at most five entries whose values are strings, numbers
or booleans (the gateway ignores entries past the fifth); ``cf-aig-authorization: Bearer <token>``
(an authenticated gateway; ``Authorization`` keeps carrying the provider key); ``cf-aig-cache-ttl``
(seconds); ``cf-aig-skip-cache: true``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping

log = logging.getLogger("reviewer.model.client")

MetadataValue = str | int | float | bool

METADATA_MAX_ENTRIES = 5
METADATA_MAX_CHARS = 64


def metadata_header(metadata: Mapping[str, MetadataValue | None]) -> str | None:
    """``cf-aig-metadata``: a flat JSON object, at most five entries in the caller's order.

    Values are strings, numbers or booleans (anything else becomes its string); strings and keys
    are cut to ``METADATA_MAX_CHARS``; ``None`` values are left out. Returns None when nothing is left.
    """
    entries: dict[str, str | int | float | bool] = {}
    dropped: list[str] = []
    for key, value in metadata.items():
        if value is None:
            continue
        if len(entries) == METADATA_MAX_ENTRIES:
            dropped.append(str(key)[:METADATA_MAX_CHARS])
            continue
        entries[str(key)[:METADATA_MAX_CHARS]] = _metadata_value(value)
    if dropped:
        warn_once(
            ("metadata", *dropped),
            "llm metadata: more than %d entries, dropped %s",
            METADATA_MAX_ENTRIES,
            dropped,
        )
    if not entries:
        return None
    return json.dumps(entries, separators=(",", ":"), ensure_ascii=True)


def request_headers(
    metadata: Mapping[str, MetadataValue | None] | None,
    *,
    gateway_token: str | None = None,
    cache_ttl: int | None = None,
    skip_cache: bool = False,
) -> dict[str, str]:
    """The AI Gateway headers of one request; none of them when nothing asks for them."""
    headers: dict[str, str] = {}
    encoded = metadata_header(metadata) if metadata else None
    if encoded:
        headers["cf-aig-metadata"] = encoded
    if gateway_token:
        headers["cf-aig-authorization"] = f"Bearer {gateway_token}"
    if cache_ttl is not None:
        headers["cf-aig-cache-ttl"] = str(int(cache_ttl))
    if skip_cache:
        headers["cf-aig-skip-cache"] = "true"
    return headers


_warned: set[tuple[str, ...]] = set()
_warned_lock = threading.Lock()


def warn_once(key: tuple[str, ...], message: str, *args: object) -> None:
    """A configuration problem repeats on every call: say it once per process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message, *args)


def _metadata_value(value: object) -> str | int | float | bool:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return str(value)[:METADATA_MAX_CHARS]
