"""One request and its response on a client connection (a transaction), and its streaming
request body."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from proxy import errors
from proxy.http1 import RequestHead

# Request bodies are buffered at most about this much per connection before reading from
# the client pauses (nginx's client_body_buffer_size is 8-16 KiB; uploads here are small).
BODY_HIGH_WATER = 64 * 1024
BODY_LOW_WATER = 16 * 1024


class RequestBody:
    """Body bytes from the client parser to the forwarder, with explicit flow control:
    reading from the client pauses while too much is buffered and resumes once drained."""

    def __init__(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._pause, self._resume = pause, resume
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self.finished = False  # the whole body has arrived
        self.error: errors.ProxyError | None = None
        self.received = 0

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self.received += len(data)
        if self._buffered > BODY_HIGH_WATER:
            self._pause()
        self._wake()

    def finish(self) -> None:
        self.finished = True
        self._wake()

    def fail(self, error: errors.ProxyError) -> None:
        self.error = error
        self._wake()

    @property
    def complete(self) -> bool:
        return self.finished and self.error is None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered < BODY_LOW_WATER:
                    self._resume()
                yield chunk
            elif self.error is not None:
                raise self.error
            elif self.finished:
                return
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


@dataclass(slots=True, eq=False)
class Transaction:
    """What the connection knows about one request while it is served, for the access log."""

    number: int  # 1-based position on its connection
    head: RequestHead | None
    body: RequestBody | None = None
    error: errors.ProxyError | None = None  # set when the request never parsed
    started: float = 0.0
    status: int = 0
    # Body bytes: those written, then (once served) those that left our write buffer.
    bytes_sent: int = 0
    body_at: int = 0  # where the response body begins in the bytes written on the connection
    # Why the response ended before it was complete: "client" (gone), "timeout" (took
    # nothing for the send timeout), "upstream" (cut or timed out), "shutdown" (grace over).
    aborted: str = ""
    response_started: bool = False
    close_after: bool = False
    user: bytes = b"-"
    # What the proxy's cache did: "hit" (answered from it), "miss" (stored the response), or
    # "revalidated" (answered from a stale copy after the upstream's 304).
    cache: str = "-"
    request_id: bytes = b""  # X-Request-ID, set once the request is forwarded
    route: str = "-"  # for the metrics: auth, home, public or protected (routing.Route.label)

    @property
    def body_unread(self) -> bool:
        """Part of the request body is still in flight: the connection cannot be reused."""
        return self.body is not None and not self.body.complete
