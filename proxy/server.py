"""Starting and stopping the proxy: listener, shared state, access log, graceful shutdown."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from proxy.access import AuthClient
from proxy.cache import ResponseCache
from proxy.config import Settings
from proxy.exchange import Exchange
from proxy.forward import Forwarder
from proxy.protocol import ClientConnection
from proxy.routing import Upstream
from proxy.trace import Tracer
from proxy.upstream import Pool

log = logging.getLogger("gatehouse.proxy")


class ServerState:
    """What all client connections share: settings, pools, the auth client, the registry."""

    def __init__(self, settings: Settings, access_log: TextIO | None = sys.stdout) -> None:
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        pool_options = {
            "connect_timeout": settings.connect_timeout,
            "read_timeout": settings.read_timeout,
            "idle_timeout": settings.pool_idle_timeout,
            "max_idle": settings.pool_max_idle,
        }
        self.pools = {
            Upstream.AUTH: Pool(settings.auth, **pool_options),
            Upstream.CONTENT: Pool(settings.content, **pool_options),
        }
        self.auth = AuthClient(
            self.pools[Upstream.AUTH],
            cache_ttl=settings.auth_cache_ttl,
            cache_size=settings.auth_cache_size,
        )
        self.cache = ResponseCache(
            max_bytes=settings.cache_bytes,
            max_entry_bytes=settings.cache_entry_bytes,
            clock=self.loop.time,
        )
        self.forwarder = Forwarder(self.pools, self.auth, self.cache)
        self.connections: set[ClientConnection] = set()
        # Keep-alive connections waiting for their next request, longest idle first.
        self.idle: dict[ClientConnection, None] = {}
        self._per_ip: collections.Counter[bytes] = collections.Counter()
        self.max_connections = settings.max_connections  # lowered by fit_fd_limit()
        self.shutting_down = False
        self._ids = itertools.count(1)
        self._access_log = access_log if settings.access_log else None
        self.tracer = Tracer(sys.stderr) if settings.trace else None

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
        self._per_ip[conn.peer_ip] += 1
        return next(self._ids)

    def connection_closed(self, conn: ClientConnection) -> None:
        if conn in self.connections:
            self._forget(conn)

    def _forget(self, conn: ClientConnection) -> None:
        self.connections.discard(conn)
        self.idle.pop(conn, None)
        left = self._per_ip[conn.peer_ip] - 1
        if left > 0:
            self._per_ip[conn.peer_ip] = left
        else:
            del self._per_ip[conn.peer_ip]

    def log_exchange(self, conn: ClientConnection, ex: Exchange) -> None:
        """One line per request; conn=/req= make connection reuse visible."""
        if self._access_log is None:
            return
        if ex.head is not None:
            request = f"{ex.head.method.decode()} {ex.head.target.decode('latin-1')}"
        else:
            request = "-"
        ms = (time.perf_counter() - ex.started) * 1000
        self._access_log.write(
            f'{conn.peer_ip.decode()} conn={conn.id} req={ex.number} "{request}" '
            f"{ex.status} {ex.bytes_sent} {ms:.1f}ms user={ex.user.decode('latin-1')} "
            f"cache={ex.cache}{f' aborted={ex.aborted}' if ex.aborted else ''}\n"
        )


# File descriptors (issue 9). Each proxied connection holds two (the client's and an
# upstream's); idle pooled upstream connections, the listen backlog and a reserve come on top.
# The backlog counts because libuv accepts everything queued in one go, and a connection
# refused with the 503 page frees its descriptor only after that.
FDS_PER_CONNECTION = 2
FD_RESERVE = 16
BACKLOG = 2048


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
    overhead = in_use + FD_RESERVE + 2 * settings.pool_max_idle  # two pools
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


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    state = ServerState(settings)
    capacity = fit_fd_limit(settings)
    state.max_connections = capacity.max_connections
    server = await state.loop.create_server(
        lambda: ClientConnection(state),
        settings.listen.host,
        settings.listen.port,
        backlog=capacity.backlog,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        state.loop.add_signal_handler(sig, stop.set)
    log.warning("gatehouse proxy listening on http://%s", settings.listen)
    if ready is not None:
        ready.set()
    await stop.wait()
    await shutdown(state, server)


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
    for pool in state.pools.values():
        pool.close()
    log.warning("gatehouse proxy stopped")
