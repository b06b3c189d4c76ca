"""The application layer: settings (the only environment reader), services, the web intake and its
spool, events, state in Redis, commands and conversations with people, feedback, the CLI, doctor,
the embedded Redis and metrics.

Rule: the only place that builds services from settings and wires the domain packages together;
nothing in the domain imports it.
"""

from typing import TYPE_CHECKING

from reviewer._exports import lazy_exports

if TYPE_CHECKING:
    from reviewer.app.config import Settings, load_settings
    from reviewer.app.embedded_redis import EmbeddedRedis
    from reviewer.app.events import ReviewJob
    from reviewer.app.services import Services, build_services
    from reviewer.app.state import RedisDeliveryLog, ReviewLedger, connect
    from reviewer.app.web import create_app

__all__ = [
    "EmbeddedRedis",
    "RedisDeliveryLog",
    "ReviewJob",
    "ReviewLedger",
    "Services",
    "Settings",
    "build_services",
    "connect",
    "create_app",
    "load_settings",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "config": ("Settings", "load_settings"),
        "embedded_redis": ("EmbeddedRedis",),
        "events": ("ReviewJob",),
        "services": ("Services", "build_services"),
        "state": ("RedisDeliveryLog", "ReviewLedger", "connect"),
        "web": ("create_app",),
    },
)
