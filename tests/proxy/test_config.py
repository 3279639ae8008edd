"""Settings.from_env: defaults, overrides, and one ConfigError naming the bad variable."""

from __future__ import annotations

import pytest

from proxy.config import Address, ConfigError, Settings
from proxy.http1 import Limits


def test_defaults():
    s = Settings.from_env({})
    assert s == Settings()
    assert s.listen == Address("127.0.0.1", 10080)
    assert s.auth == Address("127.0.0.1", 8001)
    assert s.content == Address("127.0.0.1", 8002)
    assert (s.keepalive_timeout, s.keepalive_max) == (5.0, 100)
    assert s.header_timeout == 10.0
    assert s.limits == Limits()
    assert s.limits.max_header_bytes == 8192
    assert s.trace is False and s.access_log is True


def test_pool_idle_stays_below_uvicorns_keep_alive():
    assert Settings().pool_idle_timeout < 5.0


def test_overrides():
    s = Settings.from_env(
        {
            "PROXY_HOST": "0.0.0.0",
            "PROXY_PORT": "9000",
            "AUTH_HOST": "auth",
            "AUTH_PORT": "9001",
            "CONTENT_HOST": "content",
            "CONTENT_PORT": "9002",
            "KEEPALIVE_TIMEOUT": "2.5",
            "KEEPALIVE_MAX": "3",
            "PROXY_HEADER_TIMEOUT": "4",
            "PROXY_BODY_TIMEOUT": "6",
            "PROXY_MAX_CONNECTIONS": "7",
            "PROXY_MAX_REQUEST_LINE": "100",
            "PROXY_MAX_HEADER_BYTES": "200",
            "PROXY_MAX_HEADER_COUNT": "5",
            "PROXY_MAX_BODY_BYTES": "10",
            "UPSTREAM_CONNECT_TIMEOUT": "1.5",
            "UPSTREAM_READ_TIMEOUT": "8",
            "UPSTREAM_POOL_IDLE_TIMEOUT": "3",
            "UPSTREAM_POOL_MAX_IDLE": "4",
            "AUTH_CACHE_TTL": "0",
            "AUTH_CACHE_SIZE": "0",
            "PROXY_SHUTDOWN_GRACE": "0",
            "PROXY_TRACE": "yes",
            "PROXY_ACCESS_LOG": "off",
        }
    )
    assert s.listen == Address("0.0.0.0", 9000)
    assert s.auth == Address("auth", 9001)
    assert s.content == Address("content", 9002)
    assert (s.keepalive_timeout, s.keepalive_max) == (2.5, 3)
    assert (s.header_timeout, s.body_timeout, s.max_connections) == (4.0, 6.0, 7)
    assert s.limits == Limits(100, 200, 5, 10)
    assert (s.connect_timeout, s.read_timeout) == (1.5, 8.0)
    assert (s.pool_idle_timeout, s.pool_max_idle) == (3.0, 4)
    assert (s.auth_cache_ttl, s.auth_cache_size, s.shutdown_grace) == (0.0, 0, 0.0)
    assert s.trace is True and s.access_log is False


def test_empty_and_blank_values_mean_the_default():
    assert Settings.from_env({"PROXY_PORT": "", "KEEPALIVE_MAX": "   "}) == Settings()


def test_surrounding_whitespace_is_ignored():
    assert Settings.from_env({"PROXY_PORT": " 9000 "}).listen.port == 9000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROXY_PORT", "0"),
        ("PROXY_PORT", "65536"),
        ("PROXY_PORT", "http"),
        ("AUTH_PORT", "-1"),
        ("CONTENT_PORT", "80.5"),
        ("KEEPALIVE_TIMEOUT", "soon"),
        ("KEEPALIVE_TIMEOUT", "0"),
        ("KEEPALIVE_MAX", "0"),
        ("KEEPALIVE_MAX", "1.5"),
        ("PROXY_MAX_BODY_BYTES", "1e6"),
        ("PROXY_MAX_HEADER_BYTES", "0"),
        ("PROXY_MAX_CONNECTIONS", "-5"),
        ("PROXY_HEADER_TIMEOUT", "-1"),
        ("AUTH_CACHE_TTL", "-1"),
        ("AUTH_CACHE_SIZE", "-1"),
        ("PROXY_SHUTDOWN_GRACE", "-0.5"),
        ("PROXY_TRACE", "maybe"),
        ("PROXY_ACCESS_LOG", "2"),
    ],
)
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("TRUE", True), ("yes", True), ("On", True)],
        *[("0", False), ("false", False), ("NO", False), ("off", False)],
    ],
)
def test_flags(raw, expected):
    assert Settings.from_env({"PROXY_TRACE": raw}).trace is expected


@pytest.mark.parametrize("value", ["nan", "inf", "-nan"])
@pytest.mark.parametrize(
    "name", ["KEEPALIVE_TIMEOUT", "PROXY_HEADER_TIMEOUT", "UPSTREAM_READ_TIMEOUT"]
)
def test_non_finite_timeouts_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_replace():
    s = Settings().replace(keepalive_max=3)
    assert s.keepalive_max == 3 and s.keepalive_timeout == 5.0


def test_address_str():
    assert str(Address("127.0.0.1", 8001)) == "127.0.0.1:8001"


def test_slow_client_settings():
    s = Settings()
    assert (s.send_timeout, s.body_min_rate, s.max_connections_per_ip) == (30.0, 500.0, 0)
    s = Settings.from_env(
        {
            "PROXY_SEND_TIMEOUT": "0.5",
            "PROXY_BODY_MIN_RATE": "0",
            "PROXY_MAX_CONNECTIONS_PER_IP": "20",
        }
    )
    assert (s.send_timeout, s.body_min_rate, s.max_connections_per_ip) == (0.5, 0.0, 20)


@pytest.mark.parametrize(
    "name,value",
    [
        ("PROXY_SEND_TIMEOUT", "0"),
        ("PROXY_BODY_MIN_RATE", "-1"),
        ("PROXY_MAX_CONNECTIONS_PER_IP", "-1"),
    ],
)
def test_slow_client_settings_refuse_bad_values(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
