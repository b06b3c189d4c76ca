"""REVIEWER_REDIS_URL's spellings, as redis-py and Celery get them."""

from __future__ import annotations

import pytest

from reviewer.app.redis_url import parse_redis_url
from reviewer.errors import ConfigError


def test_plain_and_socket_urls_pass_through_and_celerys_socket_spelling_is_read_too() -> None:
    assert parse_redis_url("redis://:pw@h:6379/2").url == "redis://:pw@h:6379/2"
    assert parse_redis_url("unix:///run/redis.sock").url == "unix:///run/redis.sock"
    assert parse_redis_url("redis+socket:///run/redis.sock").url == "unix:///run/redis.sock"


def test_tls_verifies_the_server_unless_told_how() -> None:
    assert parse_redis_url("rediss://h:6380/0").url == "rediss://h:6380/0?ssl_cert_reqs=required"
    given = "rediss://h:6380/0?ssl_cert_reqs=none&ssl_ca_certs=%2Fca.pem"
    assert parse_redis_url(given).url == given


@pytest.mark.parametrize(
    "url",
    [
        "sentinel://user:s3cret@s1:26379,s2:26380/mymaster/2",
        "sentinel://user:s3cret@s1:26379/mymaster/2;sentinel://s2:26380",
    ],
)
def test_sentinel_lists_name_the_master_and_the_database(url: str) -> None:
    target = parse_redis_url(url)
    assert target.is_sentinel
    assert target.sentinels == (("s1", 26379), ("s2", 26380))
    assert (target.master, target.db, target.username, target.password) == ("mymaster", 2, "user", "s3cret")
    assert (
        target.kombu_sentinel_url() == "sentinel://user:s3cret@s1:26379/2;sentinel://user:s3cret@s2:26380/2"
    )


def test_a_sentinel_port_defaults_to_26379() -> None:
    assert parse_redis_url("sentinel://s1/mymaster").sentinels == (("s1", 26379),)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sentinel://s1:26379/0", "names the master"),
        ("sentinel://s1:26379", "names the master"),
        ("sentinel://s1:26379/mymaster/zero", "is a number"),
        ("sentinel://s1:port/mymaster", "is not host:port"),
        ("http://h:6379", "unknown scheme"),
    ],
)
def test_a_url_that_cannot_work_is_refused_with_the_reason(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_redis_url(url)
