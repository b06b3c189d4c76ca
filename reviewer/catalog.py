"""What the service catalog knows about a repository: its owner team, system, lifecycle, tier,
dependencies and APIs, from Backstage or, failing that, the repository's own catalog-info.yaml.

Backstage's catalog REST API: ``GET /api/catalog/entities/by-query?filter=kind=component,
metadata.annotations.gitlab.com/project-slug=<group/app>`` answers ``{"items": [...],
"totalItems": n, "pageInfo": {...}}``; a static service token goes in ``Authorization: Bearer``.
An entity's ``relations`` (``ownedBy``, ``dependsOn``, ``providesApi``) are the catalog's own
resolution of its ``spec``. The catalog only enriches a review: when it is down or knows nothing,
the review goes on without it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import yaml
from cachetools import TTLCache

log = logging.getLogger(__name__)

SLUG_ANNOTATION = "gitlab.com/project-slug"
CATALOG_FILE = "catalog-info.yaml"
_CACHE_SECONDS = 300.0
_CACHE_ENTRIES = 1024  # projects remembered at once; the least recently used goes first


@dataclass(frozen=True, slots=True)
class ServiceContext:
    name: str
    owner: str | None = None  # an entity ref such as "group:default/payments"
    system: str | None = None
    lifecycle: str | None = None
    type: str | None = None
    tier: str | None = None
    depends_on: tuple[str, ...] = ()
    provides_apis: tuple[str, ...] = ()
    source: str = "backstage"  # or "catalog-info.yaml"

    def describe(self) -> str:
        """One line for the prompt: what the service is and what it touches."""
        parts = [f"{self.name} ({self.type or 'component'})"]
        for label, value in (
            ("owner", self.owner),
            ("system", self.system),
            ("lifecycle", self.lifecycle),
            ("tier", self.tier),
        ):
            if value:
                parts.append(f"{label} {value}")
        if self.depends_on:
            parts.append("depends on " + ", ".join(self.depends_on[:5]))
        if self.provides_apis:
            parts.append("provides " + ", ".join(self.provides_apis[:5]))
        return "; ".join(parts)[:300]


def from_entity(entity: Mapping[str, Any], *, source: str = "backstage") -> ServiceContext | None:
    metadata = _mapping(entity.get("metadata"))
    spec = _mapping(entity.get("spec"))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return None
    relations = [r for r in entity.get("relations") or () if isinstance(r, Mapping)]

    def related(kind: str) -> tuple[str, ...]:
        return tuple(str(r["targetRef"]) for r in relations if r.get("type") == kind and r.get("targetRef"))

    labels, annotations = _mapping(metadata.get("labels")), _mapping(metadata.get("annotations"))
    tier = (
        spec.get("tier")
        or labels.get("tier")
        or next((v for k, v in annotations.items() if str(k).endswith("/tier")), None)
    )
    owners = related("ownedBy")
    return ServiceContext(
        name=name,
        owner=owners[0] if owners else _text(spec.get("owner")),
        system=_text(spec.get("system")),
        lifecycle=_text(spec.get("lifecycle")),
        type=_text(spec.get("type")),
        tier=_text(tier),
        depends_on=related("dependsOn") or _texts(spec.get("dependsOn")),
        provides_apis=related("providesApi") or _texts(spec.get("providesApis")),
        source=source,
    )


def parse_catalog_info(text: str) -> ServiceContext | None:
    """The first Component of a repository's catalog-info.yaml (several documents allowed)."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        log.info("%s is not valid YAML: %s", CATALOG_FILE, exc)
        return None
    for document in documents:
        if isinstance(document, Mapping) and str(document.get("kind", "")).lower() == "component":
            return from_entity(document, source=CATALOG_FILE)
    return None


class BackstageCatalog:
    """Backstage's catalog API, with lookups (found or not) cached for a few minutes per project,
    for at most ``cache_entries`` projects."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        cache_entries: int = _CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._cache: TTLCache[str, ServiceContext | None] = TTLCache(
            maxsize=cache_entries, ttl=_CACHE_SECONDS, timer=clock
        )
        self._lock = threading.Lock()  # TTLCache is not thread-safe

    def lookup(self, project_path: str) -> ServiceContext | None:
        try:
            with self._lock:
                return self._cache[project_path]
        except KeyError:  # never looked up, or expired
            pass
        context = self._query(project_path)
        with self._lock:
            self._cache[project_path] = context
        return context

    def _query(self, project_path: str) -> ServiceContext | None:
        query = f"kind=component,metadata.annotations.{SLUG_ANNOTATION}={project_path}"
        try:
            response = self._http.get("/api/catalog/entities/by-query", params={"filter": query, "limit": 1})
            response.raise_for_status()
            items = response.json().get("items") or []
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("service catalog lookup of %s failed: %s", project_path, type(exc).__name__)
            return None
        entity = items[0] if items and isinstance(items[0], Mapping) else None
        return from_entity(entity) if entity is not None else None


class ServiceCatalog:
    """Backstage first (when configured), then the repository's catalog-info.yaml."""

    def __init__(self, backstage: BackstageCatalog | None = None) -> None:
        self._backstage = backstage

    def context(self, project_path: str, read_file: Callable[[str], str | None]) -> ServiceContext | None:
        if self._backstage is not None:
            found = self._backstage.lookup(project_path)
            if found is not None:
                return found
        text = read_file(CATALOG_FILE)
        return parse_catalog_info(text) if text else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int | float) and str(value) else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, Sequence) and not isinstance(value, str) else ()
