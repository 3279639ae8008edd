"""All proxy settings: one frozen object, built from the environment in one place."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict, TypeVar

from proxy import compiled
from proxy.http1 import Limits


class ConfigError(ValueError):
    """A setting has a value the proxy cannot use."""


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Settings:
    listen: Address = Address("127.0.0.1", 10080)
    auth: Address = Address("127.0.0.1", 8001)
    content: Address = Address("127.0.0.1", 8002)

    # Client connections (RFC 9112 §9.3 persistence).
    keepalive_timeout: float = 5.0
    keepalive_max: int = 100
    header_timeout: float = 10.0  # whole header section, from its first byte
    body_timeout: float = 10.0  # longest pause while a request body streams in
    max_connections: int = 10_000
    limits: Limits = field(default_factory=Limits)

    # Upstream connections.
    connect_timeout: float = 3.0
    read_timeout: float = 30.0  # wait for a response head, or between body bytes
    # Below uvicorn's 5 s keep-alive, so we never reuse a connection the upstream is closing.
    pool_idle_timeout: float = 4.0
    pool_max_idle: int = 100

    # Access control.
    auth_cache_ttl: float = 1.0
    auth_cache_size: int = 10_000

    # The response cache, consulted after the access check (0 bytes disables it).
    cache_bytes: int = 32 * 1024 * 1024
    cache_entry_bytes: int = 1024 * 1024

    shutdown_grace: float = 10.0
    trace: bool = False
    access_log: bool = True

    # Sent as X-Gatehouse-Token on every request to the services, which refuse requests
    # without it; None sends nothing (services without a token accept everyone).
    internal_token: bytes | None = None

    # HTTPS: with both set, the listener terminates TLS (proxy/tls.py); the optional
    # redirect port is a plain listener answering 308 to the https URL.
    tls_cert: str | None = None
    tls_key: str | None = None
    http_redirect_port: int | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    # Workers, replicas, health (issue 11). Empty upstream lists mean the one address above.
    workers: int = 1
    admin: Address = Address("127.0.0.1", 10081)
    auth_upstreams: tuple[Address, ...] = ()
    content_upstreams: tuple[Address, ...] = ()
    resolve_interval: float = 5.0
    max_fails: int = 3
    fail_timeout: float = 10.0
    health_interval: float = 2.0  # 0: no active health checks
    access_log_format: str = "text"

    # Slow and greedy clients (issue 9).
    send_timeout: float = 30.0  # longest time a client may take none of a response's bytes
    body_min_rate: float = 500.0  # bytes/s a request body must average after body_timeout
    max_connections_per_ip: int = 0  # 0: no per-address cap
    # Run the mypyc-compiled hot modules: auto (when fresh), 1 (or refuse to start), 0.
    compiled: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError naming the bad one."""
        read = _Reader(env)
        d = cls()
        limits = Limits(
            max_request_line=read("PROXY_MAX_REQUEST_LINE", int, d.limits.max_request_line),
            max_header_bytes=read("PROXY_MAX_HEADER_BYTES", int, d.limits.max_header_bytes),
            max_header_count=read("PROXY_MAX_HEADER_COUNT", int, d.limits.max_header_count),
            max_body_bytes=read("PROXY_MAX_BODY_BYTES", int, d.limits.max_body_bytes),
        )
        return cls(
            listen=Address(
                read("PROXY_HOST", str, d.listen.host), read("PROXY_PORT", _port, 10080)
            ),
            auth=Address(read("AUTH_HOST", str, d.auth.host), read("AUTH_PORT", _port, 8001)),
            content=Address(
                read("CONTENT_HOST", str, d.content.host), read("CONTENT_PORT", _port, 8002)
            ),
            keepalive_timeout=read("KEEPALIVE_TIMEOUT", float, d.keepalive_timeout),
            keepalive_max=read("KEEPALIVE_MAX", int, d.keepalive_max),
            header_timeout=read("PROXY_HEADER_TIMEOUT", float, d.header_timeout),
            body_timeout=read("PROXY_BODY_TIMEOUT", float, d.body_timeout),
            max_connections=read("PROXY_MAX_CONNECTIONS", int, d.max_connections),
            limits=limits,
            connect_timeout=read("UPSTREAM_CONNECT_TIMEOUT", float, d.connect_timeout),
            read_timeout=read("UPSTREAM_READ_TIMEOUT", float, d.read_timeout),
            pool_idle_timeout=read("UPSTREAM_POOL_IDLE_TIMEOUT", float, d.pool_idle_timeout),
            pool_max_idle=read("UPSTREAM_POOL_MAX_IDLE", int, d.pool_max_idle),
            auth_cache_ttl=read("AUTH_CACHE_TTL", float, d.auth_cache_ttl, minimum=0),
            auth_cache_size=read("AUTH_CACHE_SIZE", int, d.auth_cache_size, minimum=0),
            cache_bytes=read("PROXY_CACHE_BYTES", int, d.cache_bytes, minimum=0),
            cache_entry_bytes=read("PROXY_CACHE_ENTRY_BYTES", int, d.cache_entry_bytes),
            shutdown_grace=read("PROXY_SHUTDOWN_GRACE", float, d.shutdown_grace, minimum=0),
            trace=read("PROXY_TRACE", _flag, False),
            access_log=read("PROXY_ACCESS_LOG", _flag, True),
            internal_token=_token(env.get("INTERNAL_TOKEN", "")),
            **_tls(read, read("PROXY_PORT", _port, 10080)),
            workers=read("PROXY_WORKERS", _workers, d.workers),
            admin=Address(
                read("PROXY_ADMIN_HOST", str, d.admin.host),
                read("PROXY_ADMIN_PORT", _port, d.admin.port),
            ),
            auth_upstreams=read("AUTH_UPSTREAMS", _addresses, ()),
            content_upstreams=read("CONTENT_UPSTREAMS", _addresses, ()),
            resolve_interval=read("UPSTREAM_RESOLVE_INTERVAL", float, d.resolve_interval),
            max_fails=read("UPSTREAM_MAX_FAILS", int, d.max_fails),
            fail_timeout=read("UPSTREAM_FAIL_TIMEOUT", float, d.fail_timeout),
            health_interval=read("UPSTREAM_HEALTH_INTERVAL", float, d.health_interval, minimum=0),
            access_log_format=read("PROXY_ACCESS_LOG_FORMAT", _log_format, "text"),
            send_timeout=read("PROXY_SEND_TIMEOUT", float, d.send_timeout),
            body_min_rate=read("PROXY_BODY_MIN_RATE", float, d.body_min_rate, minimum=0),
            max_connections_per_ip=read(
                "PROXY_MAX_CONNECTIONS_PER_IP", int, d.max_connections_per_ip, minimum=0
            ),
            compiled=read(compiled.SETTING, _compiled, d.compiled),
        )

    @property
    def auth_replicas(self) -> tuple[Address, ...]:
        return self.auth_upstreams or (self.auth,)

    @property
    def content_replicas(self) -> tuple[Address, ...]:
        return self.content_upstreams or (self.content,)

    def replace(self, **changes: Any) -> Settings:
        # Any, as in dataclasses.replace itself: the values of fields of many types (mypy's
        # dataclass plugin checks each call of dataclasses.replace, not this pass-through).
        return dataclasses.replace(self, **changes)


_T = TypeVar("_T")  # what a setting's parser returns
_D = TypeVar("_D")  # its default when unset, which may be of another type (None, ())


class _Reader:
    # What a value must look like, for the parsers whose own messages read like tracebacks.
    _EXPECTED: ClassVar[dict[Callable[[str], object], str]] = {
        int: "must be a whole number",
        float: "must be a number",
    }

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __call__(
        self,
        name: str,
        parse: Callable[[str], _T],
        default: _D,
        *,
        minimum: float | None = None,
    ) -> _T | _D:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = parse(raw)
        except ValueError as exc:
            problem = self._EXPECTED.get(parse, str(exc))
            raise ConfigError(f"setting {name}: {problem} (got {raw!r})") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if not math.isfinite(value):
            raise ConfigError(f"setting {name}: must be a finite number (got {raw!r})")
        # Counts start at 1; durations need only be positive (tests use fractions).
        if minimum is not None:
            ok, need = value >= minimum, f"at least {minimum}"
        elif isinstance(value, int):
            ok, need = value >= 1, "at least 1"
        else:
            ok, need = value > 0, "positive"
        if not ok:
            raise ConfigError(f"setting {name}: must be {need} (got {raw!r})")
        return value


def _token(raw: str) -> bytes | None:
    """The internal token goes into a header field: visible ASCII only (RFC 9110 §5.5).
    The error never echoes the secret itself."""
    if not raw:
        return None
    if not all("!" <= c <= "~" for c in raw):
        raise ConfigError(
            "setting INTERNAL_TOKEN: must be visible ASCII characters without spaces "
            f"(got {len(raw)} characters)"
        )
    return raw.encode()


class _TlsSettings(TypedDict):
    tls_cert: str | None
    tls_key: str | None
    http_redirect_port: int | None


def _tls(read: _Reader, listen_port: int) -> _TlsSettings:
    cert = read("PROXY_TLS_CERT", str, None)
    key = read("PROXY_TLS_KEY", str, None)
    redirect = read("PROXY_HTTP_REDIRECT_PORT", _port, None)
    if (cert is None) != (key is None):
        missing = "PROXY_TLS_KEY" if key is None else "PROXY_TLS_CERT"
        raise ConfigError(f"setting {missing}: needed with the other TLS file (got '')")
    if redirect is not None and cert is None:
        raise ConfigError(
            f"setting PROXY_HTTP_REDIRECT_PORT: needs PROXY_TLS_CERT and PROXY_TLS_KEY "
            f"(got '{redirect}')"
        )
    if redirect == listen_port:
        raise ConfigError(
            f"setting PROXY_HTTP_REDIRECT_PORT: must differ from PROXY_PORT (got '{redirect}')"
        )
    return {"tls_cert": cert, "tls_key": key, "http_redirect_port": redirect}


def _port(raw: str) -> int:
    problem = "must be a TCP port, 1 to 65535"
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(problem) from None
    if not 0 < port < 65536:
        raise ValueError(problem)
    return port


def _workers(raw: str) -> int:
    if raw.lower() == "auto":
        return os.cpu_count() or 1
    return int(raw)


def _addresses(raw: str) -> tuple[Address, ...]:
    """`host:port,host:port`; an IPv6 address in brackets (`[::1]:8002`)."""
    addresses = []
    for part in raw.split(","):
        host, colon, port = part.strip().rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not colon or not host:
            raise ValueError(f"expected host:port, got {part.strip()!r}")
        addresses.append(Address(host, _port(port)))
    return tuple(addresses)


def _log_format(raw: str) -> str:
    if raw not in ("text", "json"):
        raise ValueError("expected text or json")
    return raw


def _compiled(raw: str) -> str:
    """PROXY_COMPILED: the same rule the package applied at import (proxy/compiled.py)."""
    compiled.decide(raw, compiled.stale(compiled.BUILD))
    return raw


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1/0, true/false, yes/no or on/off")
