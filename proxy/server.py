"""Starting and stopping the proxy: listener, shared state, access log, graceful shutdown."""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
import sys
import time
from typing import TextIO

from proxy import redirect, tls
from proxy.access import AuthClient
from proxy.cache import ResponseCache
from proxy.config import ConfigError, Settings
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
            token=settings.internal_token,
        )
        self.cache = ResponseCache(
            max_bytes=settings.cache_bytes,
            max_entry_bytes=settings.cache_entry_bytes,
            clock=self.loop.time,
        )
        self.forwarder = Forwarder(self.pools, self.auth, self.cache, settings.internal_token)
        self.connections: set[ClientConnection] = set()
        self.shutting_down = False
        self._ids = itertools.count(1)
        self._access_log = access_log if settings.access_log else None
        self.tracer = Tracer(sys.stderr) if settings.trace else None

    def admit(self, conn: ClientConnection) -> bool:
        return not self.shutting_down and len(self.connections) < self.settings.max_connections

    def connection_opened(self, conn: ClientConnection) -> int:
        self.connections.add(conn)
        return next(self._ids)

    def connection_closed(self, conn: ClientConnection) -> None:
        self.connections.discard(conn)

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
            f"cache={ex.cache}\n"
        )


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    state = ServerState(settings)
    try:
        ssl_context = tls.server_context(settings) if settings.tls else None
    except ConfigError as exc:
        raise SystemExit(f"proxy: {exc}") from None
    server = await state.loop.create_server(
        lambda: ClientConnection(state),
        settings.listen.host,
        settings.listen.port,
        backlog=2048,
        reuse_address=True,
        ssl=ssl_context,
        # A client that never finishes its handshake holds a socket outside the connection
        # count (the Protocol only sees handshaken connections): give it the header deadline.
        ssl_handshake_timeout=settings.header_timeout if ssl_context else None,
        # Closing waits for the client's close_notify; one that never sends it is not kept
        # longer than an idle connection would be.
        ssl_shutdown_timeout=settings.keepalive_timeout if ssl_context else None,
    )
    redirects = None
    if settings.http_redirect_port is not None:
        redirects = await redirect.listen(
            settings.listen.host,
            settings.http_redirect_port,
            settings.listen.port,
            settings.limits,
            settings.header_timeout,
        )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        state.loop.add_signal_handler(sig, stop.set)
    scheme = "https" if ssl_context else "http"
    log.warning("gatehouse proxy listening on %s://%s", scheme, settings.listen)
    if ready is not None:
        ready.set()
    await stop.wait()
    if redirects is not None:
        redirect.close(*redirects)
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
        if conn.transport is not None:
            conn.transport.abort()
    for pool in state.pools.values():
        pool.close()
    log.warning("gatehouse proxy stopped")
