"""All proxy settings: one frozen object, built from the environment in one place."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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

    # Slow and greedy clients (issue 9).
    send_timeout: float = 30.0  # longest time a client may take none of a response's bytes
    body_min_rate: float = 500.0  # bytes/s a request body must average after body_timeout
    max_connections_per_ip: int = 0  # 0: no per-address cap

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
            send_timeout=read("PROXY_SEND_TIMEOUT", float, d.send_timeout),
            body_min_rate=read("PROXY_BODY_MIN_RATE", float, d.body_min_rate, minimum=0),
            max_connections_per_ip=read(
                "PROXY_MAX_CONNECTIONS_PER_IP", int, d.max_connections_per_ip, minimum=0
            ),
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __call__(
        self,
        name: str,
        parse: Callable[[str], Any],
        default: Any,
        *,
        minimum: float | None = None,
    ) -> Any:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r}: {exc}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if not math.isfinite(value):
            raise ConfigError(f"{name}={raw!r}: must be a finite number")
        # Counts start at 1; durations need only be positive (tests use fractions).
        if minimum is not None:
            ok, need = value >= minimum, f"at least {minimum}"
        elif isinstance(value, int):
            ok, need = value >= 1, "at least 1"
        else:
            ok, need = value > 0, "positive"
        if not ok:
            raise ConfigError(f"{name}={raw!r}: must be {need}")
        return value


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 < port < 65536:
        raise ValueError("not a TCP port")
    return port


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")
