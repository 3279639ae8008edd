"""Starting and stopping the proxy: listener, shared state, access log, graceful shutdown."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import resource
import signal
import socket
import sys
from dataclasses import dataclass
from typing import TextIO, cast

from proxy import admin, compiled, metrics, redirect, tls
from proxy.access import AuthClient
from proxy.accesslog import AccessLog
from proxy.cache import ResponseCache
from proxy.config import Address, ConfigError, Settings
from proxy.forward import Forwarder
from proxy.health import HealthChecker
from proxy.protocol import ClientConnection, Pipeline
from proxy.replicas import ReplicaSet
from proxy.request_id import RequestIds
from proxy.routing import Upstream
from proxy.tally import Traffic
from proxy.trace import Tracer
from proxy.upstream import Pool

log = logging.getLogger("gatehouse.proxy")


BACKLOG = 2048


class ServerState:
    """What all client connections share: settings, upstream replicas, the auth client, the
    registry, the metrics."""

    def __init__(
        self, settings: Settings, access_log: TextIO | None = sys.stdout, worker: int = 1
    ) -> None:
        self.settings = settings
        self.loop = asyncio.get_running_loop()

        def pool(address: Address) -> Pool:
            return Pool(
                address,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                idle_timeout=settings.pool_idle_timeout,
                max_idle=settings.pool_max_idle,
            )

        def replicas(upstream: Upstream, entries: tuple[Address, ...]) -> ReplicaSet:
            return ReplicaSet(
                upstream.value,
                entries,
                pool,
                max_fails=settings.max_fails,
                fail_timeout=settings.fail_timeout,
                resolve_interval=settings.resolve_interval,
            )

        self.upstreams = {
            Upstream.AUTH: replicas(Upstream.AUTH, settings.auth_replicas),
            Upstream.CONTENT: replicas(Upstream.CONTENT, settings.content_replicas),
        }
        self.health = HealthChecker(list(self.upstreams.values()), settings.health_interval)
        self.auth = AuthClient(
            self.upstreams[Upstream.AUTH],
            cache_ttl=settings.auth_cache_ttl,
            cache_size=settings.auth_cache_size,
            token=settings.internal_token,
        )
        self.cache = ResponseCache(
            max_bytes=settings.cache_bytes,
            max_entry_bytes=settings.cache_entry_bytes,
            clock=self.loop.time,
        )
        self.forwarder: Pipeline = Forwarder(
            self.upstreams, self.auth, self.cache, RequestIds(), settings.internal_token
        )
        self.connections: set[ClientConnection] = set()
        # Keep-alive connections waiting for their next request, longest idle first.
        self.idle: dict[ClientConnection, None] = {}
        self._per_ip: collections.Counter[bytes] = collections.Counter()
        self.max_connections = settings.max_connections  # lowered by fit_fd_limit()
        self.shutting_down = False
        self._ids = itertools.count(1)
        self.access_log = (
            AccessLog(access_log, settings.access_log_format, worker)
            if access_log is not None and settings.access_log
            else None
        )
        self.tracer = Tracer(sys.stderr) if settings.trace else None
        self.traffic = Traffic()
        self.metrics = metrics.Exporter(
            self.traffic,
            {u.value: r for u, r in self.upstreams.items()},
            self.auth.results,
            lambda: len(self.connections),
        )

    async def start(self) -> None:
        """Resolve upstream names, start health checks and the metrics' flushing."""
        for replicas in self.upstreams.values():
            await replicas.start()
        self.health.start()
        self.metrics.start()

    def close(self) -> None:
        self.health.close()
        self.metrics.close()
        for replicas in self.upstreams.values():
            replicas.close()

    def not_ready(self) -> list[str]:
        """What /readyz names as down: each upstream without a replica in rotation."""
        if not self.health.settled:
            return ["upstreams: first health checks still running"]
        return [f"{u.value}: no healthy replica" for u, r in self.upstreams.items() if r.down]

    # admission (issue 9) -------------------------------------------------------------------

    def admit(self, conn: ClientConnection) -> bool:
        """Whether a new connection may be served (it gets a 503 page if not).

        A full table first closes the longest-idle keep-alive connection, as nginx does
        (ngx_drain_connections): otherwise one client holding idle connections locks
        everyone else out. An idle connection may be closed at any time (RFC 9112 §9.6).
        """
        if self.shutting_down:
            return False
        per_ip = self.settings.max_connections_per_ip
        if per_ip and self._per_ip[conn.peer_ip] >= per_ip:
            return False
        if len(self.connections) >= self.max_connections:
            if not self.idle:
                return False
            oldest = next(iter(self.idle))
            self._forget(oldest)  # its slot is free now; the close completes in the loop
            oldest.close_idle()
        return True

    def connection_opened(self, conn: ClientConnection) -> int:
        self.connections.add(conn)
        self.traffic.opened += 1
        self._per_ip[conn.peer_ip] += 1
        return next(self._ids)

    def connection_closed(self, conn: ClientConnection) -> None:
        if conn in self.connections:
            self._forget(conn)

    def _forget(self, conn: ClientConnection) -> None:
        self.connections.discard(conn)
        self.idle.pop(conn, None)
        self.traffic.per_connection.observe(conn.keepalive.served)
        left = self._per_ip[conn.peer_ip] - 1
        if left > 0:
            self._per_ip[conn.peer_ip] = left
        else:
            del self._per_ip[conn.peer_ip]


# File descriptors (issue 9). Each proxied connection holds two (the client's and an
# upstream's); idle pooled upstream connections, the listen backlog and a reserve come on top.
# The backlog counts because libuv accepts everything queued in one go, and a connection
# refused with the 503 page frees its descriptor only after that.
FDS_PER_CONNECTION = 2
FD_RESERVE = 16


@dataclass(frozen=True, slots=True)
class Capacity:
    max_connections: int
    backlog: int


def fit_fd_limit(settings: Settings) -> Capacity:
    """Raise the soft RLIMIT_NOFILE to the hard limit, and work out how many connections fit.

    A connection limit above what the descriptors allow turns the documented 503 into silent
    closes (accept() fails with EMFILE, and libuv then drops queued connections): lower it
    instead, and say so once.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 32
    pools = len(settings.auth_replicas) + len(settings.content_replicas)  # one per replica
    overhead = in_use + FD_RESERVE + pools * settings.pool_max_idle
    needed = overhead + BACKLOG + FDS_PER_CONNECTION * settings.max_connections
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return Capacity(settings.max_connections, BACKLOG)
    backlog = min(BACKLOG, max(8, soft // 8))
    fits = max(1, (soft - overhead - backlog) // FDS_PER_CONNECTION)
    log.warning(
        "PROXY_MAX_CONNECTIONS lowered from %d to %d: the file-descriptor limit "
        "(RLIMIT_NOFILE) is %d and each proxied connection needs %d; raise it to %d "
        "(ulimit -n) to allow all",
        settings.max_connections,
        fits,
        soft,
        FDS_PER_CONNECTION,
        needed,
    )
    return Capacity(min(fits, settings.max_connections), backlog)


class ListenError(Exception):
    """A port the proxy must listen on is unavailable."""


@dataclass
class Listeners:
    """The listening sockets: the master binds them once, and workers inherit them."""

    public: socket.socket
    admin: socket.socket
    redirect: socket.socket | None = None  # PROXY_HTTP_REDIRECT_PORT's plain listener

    def all(self) -> list[socket.socket]:
        return [s for s in (self.public, self.admin, self.redirect) if s is not None]

    def close(self) -> None:
        for sock in self.all():
            sock.close()


def listeners(settings: Settings) -> Listeners:
    """Bind every port the proxy listens on, or raise ListenError naming the one that failed."""
    socks: list[socket.socket] = []
    wanted = [(settings.listen, ""), (settings.admin, "admin ")]
    if settings.http_redirect_port is not None:
        wanted.append((Address(settings.listen.host, settings.http_redirect_port), "redirect "))
    try:
        for address, what in wanted:
            socks.append(bind(address, what))
    except ListenError:
        for sock in socks:
            sock.close()
        raise
    return Listeners(*socks)


def bind(address: Address, what: str = "") -> socket.socket:
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenError(f"cannot listen on {what}{address}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {what}{address}: {exc}") from None
    sock.setblocking(False)
    return sock


async def serve(
    settings: Settings,
    socks: Listeners,
    *,
    worker: int = 1,
    parent: int | None = None,
) -> None:
    """Serve on the given sockets until SIGTERM/SIGINT (or, for a worker, until its master
    is gone), then shut down gracefully."""
    try:
        ssl_context = tls.server_context(settings) if settings.tls else None
    except ConfigError as exc:
        raise SystemExit(f"proxy: {exc}") from None
    state = ServerState(settings, worker=worker)
    capacity = fit_fd_limit(settings)
    state.max_connections = capacity.max_connections
    await state.start()
    server = await state.loop.create_server(
        lambda: cast(asyncio.Protocol, ClientConnection(state)),
        sock=socks.public,
        backlog=capacity.backlog,
        ssl=ssl_context,
        # A client that never finishes its handshake holds a socket outside the connection
        # count (the Protocol only sees handshaken connections): give it the header deadline.
        ssl_handshake_timeout=settings.header_timeout if ssl_context else None,
        # Closing waits for the client's close_notify; one that never sends it is not kept
        # longer than an idle connection would be.
        ssl_shutdown_timeout=settings.keepalive_timeout if ssl_context else None,
    )
    admin_server = await admin.start(state, socks.admin)
    redirects = None
    if socks.redirect is not None:
        redirects = await redirect.listen(
            socks.redirect, settings.listen.port, settings.limits, settings.header_timeout
        )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        state.loop.add_signal_handler(sig, stop.set)
    if parent is None:
        log.warning(
            "gatehouse proxy listening on %s://%s (admin on http://%s), %s",
            "https" if ssl_context else "http",
            settings.listen,
            settings.admin,
            compiled.describe(),
        )
    else:
        _watch_parent(state.loop, parent, stop)
    await stop.wait()
    if redirects is not None:
        redirect.close(*redirects)
    await shutdown(state, server)
    admin_server.close()
    state.close()
    log.warning("gatehouse proxy %s", "stopped" if parent is None else f"worker {worker} stopped")


def _watch_parent(loop: asyncio.AbstractEventLoop, parent: int, stop: asyncio.Event) -> None:
    """A worker whose master died (SIGKILL leaves no chance to stop it) stops too, rather
    than keep the port alone and unsupervised."""
    if os.getppid() != parent:
        stop.set()
    else:
        loop.call_later(1.0, _watch_parent, loop, parent, stop)


async def shutdown(state: ServerState, server: asyncio.Server) -> None:
    """Stop accepting, close idle connections, let in-flight requests finish within the
    grace period, then close whatever is left."""
    state.shutting_down = True
    server.close()
    deadline = state.loop.time() + state.settings.shutdown_grace
    while state.connections and state.loop.time() < deadline:
        for conn in list(state.connections):
            conn.close_if_idle()
        await asyncio.sleep(0.05)
    for conn in list(state.connections):
        conn.abort("shutdown")
    for _ in range(20):  # let the cut requests write their access-log lines
        await asyncio.sleep(0.01)
        if not state.connections:
            await asyncio.sleep(0)
            break
