"""Settings.from_env: defaults, overrides, and one ConfigError naming the bad variable."""

from __future__ import annotations

import os

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
    ("env", "message"),
    [
        ({"KEEPALIVE_MAX": "abc"}, "setting KEEPALIVE_MAX: must be a whole number (got 'abc')"),
        ({"KEEPALIVE_TIMEOUT": "soon"}, "setting KEEPALIVE_TIMEOUT: must be a number (got 'soon')"),
        (
            {"PROXY_PORT": "99999"},
            "setting PROXY_PORT: must be a TCP port, 1 to 65535 (got '99999')",
        ),
        ({"AUTH_PORT": "http"}, "setting AUTH_PORT: must be a TCP port, 1 to 65535 (got 'http')"),
        ({"KEEPALIVE_MAX": "0"}, "setting KEEPALIVE_MAX: must be at least 1 (got '0')"),
        ({"PROXY_BODY_TIMEOUT": "0"}, "setting PROXY_BODY_TIMEOUT: must be positive (got '0')"),
        (
            {"KEEPALIVE_TIMEOUT": "inf"},
            "setting KEEPALIVE_TIMEOUT: must be a finite number (got 'inf')",
        ),
        (
            {"PROXY_TRACE": "maybe"},
            "setting PROXY_TRACE: must be 1/0, true/false, yes/no or on/off (got 'maybe')",
        ),
    ],
    ids=["not-whole", "not-number", "port-range", "port-text", "count", "duration", "inf", "flag"],
)
def test_one_message_style(env, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert str(info.value) == message


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


def test_internal_token():
    assert Settings().internal_token is None
    assert Settings.from_env({"INTERNAL_TOKEN": "abc-123"}).internal_token == b"abc-123"


@pytest.mark.parametrize("token", ["has space", "tab\there", "caf\u00e9"])
def test_internal_token_must_fit_a_header_and_is_never_echoed(token):
    with pytest.raises(ConfigError, match="INTERNAL_TOKEN") as caught:
        Settings.from_env({"INTERNAL_TOKEN": token})
    assert token not in str(caught.value)


def test_tls_settings():
    s = Settings.from_env(
        {"PROXY_TLS_CERT": "c.pem", "PROXY_TLS_KEY": "k.pem", "PROXY_HTTP_REDIRECT_PORT": "8080"}
    )
    assert (s.tls, s.tls_cert, s.tls_key, s.http_redirect_port) == (True, "c.pem", "k.pem", 8080)
    assert Settings().tls is False


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param({"PROXY_TLS_CERT": "c.pem"}, "PROXY_TLS_KEY", id="cert-only"),
        pytest.param({"PROXY_TLS_KEY": "k.pem"}, "PROXY_TLS_CERT", id="key-only"),
        pytest.param({"PROXY_HTTP_REDIRECT_PORT": "80"}, "PROXY_HTTP_REDIRECT_PORT", id="no-tls"),
        pytest.param(
            {"PROXY_TLS_CERT": "c", "PROXY_TLS_KEY": "k", "PROXY_HTTP_REDIRECT_PORT": "10080"},
            "PROXY_HTTP_REDIRECT_PORT",
            id="same-port",
        ),
    ],
)
def test_incomplete_tls_settings_are_refused(env, named):
    with pytest.raises(ConfigError, match=f"setting {named}: "):
        Settings.from_env(env)


def test_replicas_default_to_the_single_address():
    s = Settings.from_env({"AUTH_HOST": "auth", "AUTH_PORT": "9001"})
    assert s.auth_replicas == (Address("auth", 9001),)
    assert s.content_replicas == (Address("127.0.0.1", 8002),)


def test_upstream_lists():
    s = Settings.from_env(
        {"CONTENT_UPSTREAMS": "content:8002, 10.0.0.2:8002,[::1]:8003", "CONTENT_PORT": "1"}
    )
    assert s.content_replicas == (
        Address("content", 8002),
        Address("10.0.0.2", 8002),
        Address("::1", 8003),
    )


def test_workers_health_admin_and_log_format():
    s = Settings.from_env(
        {
            "PROXY_WORKERS": "4",
            "PROXY_ADMIN_HOST": "0.0.0.0",
            "PROXY_ADMIN_PORT": "9100",
            "UPSTREAM_RESOLVE_INTERVAL": "1",
            "UPSTREAM_MAX_FAILS": "2",
            "UPSTREAM_FAIL_TIMEOUT": "0.5",
            "UPSTREAM_HEALTH_INTERVAL": "0",
            "PROXY_ACCESS_LOG_FORMAT": "json",
        }
    )
    assert s.workers == 4 and s.admin == Address("0.0.0.0", 9100)
    assert (s.resolve_interval, s.max_fails, s.fail_timeout) == (1.0, 2, 0.5)
    assert s.health_interval == 0 and s.access_log_format == "json"
    defaults = Settings()
    assert (defaults.workers, defaults.admin) == (1, Address("127.0.0.1", 10081))
    assert (defaults.max_fails, defaults.fail_timeout, defaults.health_interval) == (3, 10.0, 2.0)


def test_workers_auto_is_one_per_cpu():
    assert Settings.from_env({"PROXY_WORKERS": "auto"}).workers == (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONTENT_UPSTREAMS", "content"),
        ("CONTENT_UPSTREAMS", "content:80,"),
        ("AUTH_UPSTREAMS", ":8001"),
        ("AUTH_UPSTREAMS", "auth:99999"),
        ("PROXY_WORKERS", "0"),
        ("PROXY_WORKERS", "many"),
        ("PROXY_ADMIN_PORT", "0"),
        ("UPSTREAM_MAX_FAILS", "0"),
        ("UPSTREAM_FAIL_TIMEOUT", "0"),
        ("UPSTREAM_HEALTH_INTERVAL", "-1"),
        ("PROXY_ACCESS_LOG_FORMAT", "xml"),
    ],
)
def test_bad_replica_settings_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


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
