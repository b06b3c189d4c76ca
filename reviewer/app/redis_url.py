"""REVIEWER_REDIS_URL in each spelling it accepts, for redis-py (the state) and Celery (the queue).

- ``redis://[user:password@]host:port/db``; ``rediss://`` for TLS, which verifies the server's
  certificate unless the URL says otherwise (``?ssl_cert_reqs=none``; ``ssl_ca_certs=/path``);
- ``unix:///path/to/redis.sock`` (Celery's ``redis+socket://`` and ``socket://`` too);
- Redis Sentinel: ``sentinel://[user:password@]host:26379[,host2:26379...]/MASTER[/db]``, or the
  sentinels as separate URLs joined by ``;`` (kombu's form) with the master named in a path.
  The password is the master's; the sentinels themselves are reached without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.sentinel import Sentinel

from reviewer.errors import ConfigError

SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class RedisTarget:
    url: str  # what redis-py and Celery take, for every form but Sentinel
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    def kombu_sentinel_url(self) -> str:
        """Kombu's spelling: one ``sentinel://`` URL per sentinel, the master in transport options."""
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:{self.password}@"
        return ";".join(f"sentinel://{auth}{host}:{port}/{self.db}" for host, port in self.sentinels)


def parse_redis_url(url: str) -> RedisTarget:
    for prefix in ("redis+socket://", "socket://"):
        if url.startswith(prefix):
            return RedisTarget("unix://" + url.removeprefix(prefix))
    scheme = urlsplit(url.split(";")[0]).scheme
    if scheme == "sentinel":
        return _sentinel(url)
    if scheme == "rediss":
        return RedisTarget(_verified_tls(url))
    if scheme in ("redis", "unix"):
        return RedisTarget(url)
    raise ConfigError(
        f"REVIEWER_REDIS_URL: unknown scheme {scheme!r}: use redis://, rediss://, unix:// or sentinel://"
    )


def connect(url: str) -> redis.Redis:
    """A Redis client for REVIEWER_REDIS_URL; through Sentinel, one that follows the master."""
    target = parse_redis_url(url)
    if not target.is_sentinel:
        return redis.Redis.from_url(target.url)
    sentinel = Sentinel(list(target.sentinels), socket_timeout=5)  # type: ignore[no-untyped-call]
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master, db=target.db, username=target.username, password=target.password, socket_timeout=30
    )
    return master


def _verified_tls(url: str) -> str:
    """Celery refuses a ``rediss://`` URL that does not say how to check the certificate; the
    safe default is to require a valid one, as redis-py does."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if "ssl_cert_reqs" in query:
        return url
    query["ssl_cert_reqs"] = "required"
    return urlunsplit(parts._replace(query=urlencode(query)))


def _sentinel(url: str) -> RedisTarget:
    hosts: list[tuple[str, int]] = []
    path = ""
    username = password = None
    for piece in url.split(";"):
        parts = urlsplit(piece.strip())
        if parts.scheme != "sentinel":
            raise ConfigError("REVIEWER_REDIS_URL: every URL of a Sentinel list starts with sentinel://")
        netloc = parts.netloc
        if "@" in netloc:
            auth, netloc = netloc.rsplit("@", 1)
            user, _, secret = auth.partition(":")
            username, password = unquote(user) or None, unquote(secret)
        for address in netloc.split(","):
            host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
            try:
                hosts.append((host, int(port) if port else SENTINEL_PORT))
            except ValueError:
                raise ConfigError(f"REVIEWER_REDIS_URL: {address!r} is not host:port") from None
        path = path or parts.path.strip("/")
    master, _, db = path.partition("/")
    if not master or master.isdigit():
        raise ConfigError(
            "REVIEWER_REDIS_URL: a Sentinel URL names the master after the sentinels, "
            "e.g. sentinel://sentinel-1:26379,sentinel-2:26379/mymaster/0"
        )
    if db and not db.isdigit():
        raise ConfigError(f"REVIEWER_REDIS_URL: the database after the master is a number, not {db!r}")
    return RedisTarget(url, tuple(hosts), master, int(db or 0), username, password)
