"""One request and its response on a client connection (a transaction), and its streaming
request body."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Final

from proxy import errors
from proxy.http1 import RequestHead

# Request bodies are buffered at most about this much per connection before reading from
# the client pauses (nginx's client_body_buffer_size is 8-16 KiB; uploads here are small).
BODY_HIGH_WATER: Final = 64 * 1024
BODY_LOW_WATER: Final = 16 * 1024


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

    # An async iterator written out rather than an async generator, which mypyc cannot
    # compile (proxy/compiled.py).
    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered < BODY_LOW_WATER:
                    self._resume()
                return chunk
            if self.error is not None:
                raise self.error
            if self.finished:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Transaction:
    """What the connection knows about one request while it is served, for the access log.
    (A plain class: see http1.events on mypyc and dataclass-made __init__s.)"""

    def __init__(
        self,
        number: int,
        head: RequestHead | None,
        body: RequestBody | None = None,
        error: errors.ProxyError | None = None,
    ) -> None:
        self.number = number  # 1-based position on its connection
        self.head = head
        self.body = body
        self.error = error  # set when the request never parsed
        self.started = 0.0
        self.status = 0
        # Body bytes: those written, then (once served) those that left our write buffer.
        self.bytes_sent = 0
        # Where the response body begins in the bytes written on the connection.
        self.body_at = 0
        # Why the response ended before it was complete: "client" (gone), "timeout" (took
        # nothing for the send timeout), "upstream" (cut or timed out), "shutdown" (grace
        # over).
        self.aborted = ""
        self.response_started = False
        self.close_after = False
        self.user = b"-"
        # What the proxy's cache did: "hit" (answered from it), "miss" (stored the
        # response), or "revalidated" (answered from a stale copy after the upstream's 304).
        self.cache = "-"
        self.request_id = b""  # X-Request-ID, set once the request is forwarded
        # For the metrics: auth, home, public or protected (routing.Route.label).
        self.route = "-"

    @property
    def body_unread(self) -> bool:
        """Part of the request body is still in flight: the connection cannot be reused."""
        return self.body is not None and not self.body.complete
