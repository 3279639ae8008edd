"""The plain-HTTP redirect listener (PROXY_HTTP_REDIRECT_PORT): every request gets a 308 to the
same path on the https listener, then the connection closes.

308 rather than 301 keeps the method and body (RFC 9110 §15.4.9), so a form posted to the
http URL is posted again to the https one instead of turning into a GET.
"""

from __future__ import annotations

import asyncio
import re
import socket

from proxy import errors
from proxy.http1 import Limits, RequestHead, RequestParser
from proxy.http1.headers import Headers, http_date
from proxy.http1.keepalive import CLOSE
from proxy.http1.writer import encode_response_head
from proxy.pages import error_response

# A Host the redirect may name: a DNS name or IPv4 address, or a bracketed IPv6 literal, with
# an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2). Nothing else reaches a Location field.
_HOST = re.compile(rb"(?P<name>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")

# After answering, how long the client may keep sending (a body we do not read) before we
# hang up: closing with unread input makes the kernel send a reset that can destroy the
# response before the client reads it (nginx's lingering_close).
LINGER = 2.0


def location(head: RequestHead, https_port: int) -> bytes:
    """The https URL for a request: its Host's name, the https port, its path and query."""
    match = _HOST.fullmatch(head.host)
    if match is None:
        raise errors.BadRequest("The request needs a valid Host to be redirected to https.")
    port = b"" if https_port == 443 else b":%d" % https_port
    target = b"/" if head.target == b"*" else head.target
    return b"https://%s%s%s" % (match["name"], port, target)


def redirect_response(head: RequestHead, https_port: int) -> bytes:
    """The whole 308 response, or an error page for a request that cannot be redirected."""
    try:
        url = location(head, https_port)
    except errors.ProxyError as error:
        return error_bytes(error)
    headers: Headers = [
        (b"Location", url),
        (b"Content-Length", b"0"),
        (b"Date", http_date()),
        *CLOSE,
    ]
    return encode_response_head(308, headers)


def error_bytes(error: errors.ProxyError) -> bytes:
    headers, body = error_response(error, list(CLOSE))
    return encode_response_head(error.status, headers) + body


class RedirectConnection(asyncio.Protocol):
    """One request, one answer, then a lingering close; one timer bounds the whole life."""

    def __init__(
        self, https_port: int, limits: Limits, timeout: float, live: set[RedirectConnection]
    ) -> None:
        self._https_port = https_port
        self._parser = RequestParser(limits)
        self._timeout = timeout
        self._live = live
        self._answered = False
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._live.add(self)
        self._arm(self._timeout)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # lingering: read and drop
        for event in self._parser.feed(data):
            if isinstance(event, RequestHead):
                self._answer(redirect_response(event, self._https_port))
                return
            if isinstance(event, errors.ProxyError):
                self._answer(error_bytes(event))
                return

    def eof_received(self) -> bool:
        return False  # the client is done: close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._live.discard(self)

    def _answer(self, response: bytes) -> None:
        assert self.transport is not None
        self._answered = True
        self.transport.write(response)
        self.transport.write_eof()  # our FIN after the response; keep reading until theirs
        self._arm(LINGER)

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self.transport is not None
        self._timer = asyncio.get_running_loop().call_later(delay, self.transport.close)


async def listen(
    sock: socket.socket, https_port: int, limits: Limits, timeout: float
) -> tuple[asyncio.Server, set[RedirectConnection]]:
    live: set[RedirectConnection] = set()
    server = await asyncio.get_running_loop().create_server(
        lambda: RedirectConnection(https_port, limits, timeout, live), sock=sock
    )
    return server, live


def close(server: asyncio.Server, live: set[RedirectConnection]) -> None:
    server.close()
    for conn in list(live):
        if conn.transport is not None:
            conn.transport.abort()
