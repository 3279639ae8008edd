"""`python -m content_service`: serve CONTENT_ROOT with uvicorn."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from content_service import logs
from content_service.app import create_app
from content_service.config import ConfigError, Settings
from content_service.logs import log

EXIT_USAGE = 2


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, pausing the app as soon as a write is left unsent.

    The default high-water mark (64 KiB in uvloop) lets a stalled download keep that
    much in the transport on top of the chunk being written; at 0 the kernel's socket
    buffers are the only queue, and a download holds at most one chunk (stream.py).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport.set_write_buffer_limits(high=0)
        super().connection_made(transport)


def listen(settings: Settings) -> socket.socket:
    """The listening socket, or ConfigError naming the setting to change."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.bind, settings.port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"setting CONTENT_BIND: cannot listen on this address: {exc.strerror} "
            f"(got {settings.bind!r})"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"setting CONTENT_PORT: {settings.bind}:{settings.port} cannot be used: "
            f"{exc.strerror}; set CONTENT_PORT to a free port (got '{settings.port}')"
        ) from None
    return sock


def main() -> int:
    logs.configure()
    try:
        settings = Settings.from_env(os.environ)
        sock = listen(settings)
    except ConfigError as exc:
        print(f"content_service: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if settings.internal_token is None:
        log.warning(
            "INTERNAL_TOKEN is not set: any local process may fetch every file "
            "(set the same INTERNAL_TOKEN for the proxy and the services)"
        )
    config = uvicorn.Config(
        create_app(settings),
        loop="uvloop",
        http=Protocol,
        access_log=False,
        log_config=None,  # logs.configure() did it: one format, with request ids
        log_level="warning",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=settings.shutdown_grace,
        # The proxy in front is the only client; its X-Forwarded-* headers
        # mean nothing to a file server, so they are not interpreted.
        proxy_headers=False,
        server_header=False,
    )
    # The socket already listens (connections wait in its backlog), so this is true now.
    host = f"[{settings.bind}]" if ":" in settings.bind else settings.bind
    log.info("content_service listening on http://%s:%d", host, settings.port)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
