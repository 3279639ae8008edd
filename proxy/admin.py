"""The admin listener (PROXY_ADMIN_HOST:PROXY_ADMIN_PORT, loopback by default): health,
readiness and metrics for operators and orchestrators, never on the public port.

- `GET /healthz`: 200 `ok` while the process runs;
- `GET /readyz`: 200 when every upstream has a replica in rotation and the proxy is not
  shutting down, else 503 naming what is down;
- `GET /metrics`: Prometheus text, over all workers.

Each worker answers on the same inherited socket. One request per connection: this is for
probes and scrapers, not for browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST

from proxy import metrics
from proxy.http1.writer import encode_response_head

if TYPE_CHECKING:
    from proxy.server import ServerState

MAX_HEAD = 8192
TIMEOUT = 5.0
TEXT = b"text/plain; charset=utf-8"


async def start(state: ServerState, sock: socket.socket) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                status, content_type, body = await answer(state, head)
                writer.write(_response(status, content_type, body, head.startswith(b"HEAD ")))
                await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, sock=sock, limit=MAX_HEAD)


async def answer(state: ServerState, head: bytes) -> tuple[int, bytes, bytes]:
    """(status, content type, body) for a request head."""
    method, _, rest = head.partition(b" ")
    path = rest.partition(b" ")[0].partition(b"?")[0]
    if method not in (b"GET", b"HEAD"):
        return 405, TEXT, b"only GET and HEAD\n"
    if path == b"/healthz":
        return 200, TEXT, b"ok\n"
    if path == b"/readyz":
        down = ["shutting down"] if state.shutting_down else state.not_ready()
        if down:
            return 503, TEXT, ("\n".join(down) + "\n").encode()
        return 200, TEXT, b"ready\n"
    if path == b"/metrics":
        state.metrics.flush()
        # Reading every worker's files takes a few milliseconds: not on the event loop.
        body = await asyncio.to_thread(metrics.exposition)
        return 200, CONTENT_TYPE_LATEST.encode(), body
    return 404, TEXT, b"not found: try /healthz, /readyz or /metrics\n"


def _response(status: int, content_type: bytes, body: bytes, head_only: bool) -> bytes:
    headers = [
        (b"Content-Type", content_type),
        (b"Content-Length", b"%d" % len(body)),
        (b"Cache-Control", b"no-store"),
        (b"Connection", b"close"),
    ]
    return encode_response_head(status, headers) + (b"" if head_only else body)
