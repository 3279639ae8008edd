"""Connections to the services behind the proxy, and a keep-alive pool per service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

from proxy import errors
from proxy.config import Address
from proxy.http1 import END, Body, ResponseEvent, ResponseHead, ResponseParser

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


class StaleConnection(errors.BadGateway):
    """A pooled connection was closed by the upstream before it answered."""


class NotSent(errors.UpstreamError):
    """No connection could be made: the request never left the proxy, so any request may
    go to another replica."""


class ConnectFailed(NotSent, errors.BadGateway):
    """The upstream refused the connection or is unreachable."""


class ConnectTimedOut(NotSent, errors.GatewayTimeout):
    """The upstream did not accept a connection in time."""


class Sink(Protocol):
    """Where a response body goes: the client connection, or a buffer."""

    def body(self, data: bytes) -> None: ...

    def end(self) -> None: ...

    def flush(self) -> None:
        """Called after each batch of events: write out what body() and end() collected."""


class _Discard:
    """A sink for a response whose head says it all (an auth verdict, a 304 for the cache)."""

    __slots__ = ()

    def body(self, data: bytes) -> None:
        pass

    def end(self) -> None:
        pass

    def flush(self) -> None:
        pass


DISCARD = _Discard()


# The most read from an upstream at once: what a stalled download can hold in our write
# buffer (see protocol.WRITE_HIGH_WATER). uvloop's own reads take up to 256 KiB. Measured
# (200 stalled 20 MB downloads): 76 KiB of proxy RSS each with 64 KiB reads, 133 KiB with
# 128 KiB, ~460 KiB before (issue 9); a fast 50 MB download costs ~20% more proxy CPU than
# with 256 KiB reads, at the same speed (the content service sets it).
READ_SIZE = 64 * 1024
# One buffer for all upstream reads: each read is copied out before the loop reads again.
_READ_BUFFER = memoryview(bytearray(READ_SIZE))


class UpstreamConnection(asyncio.BufferedProtocol):
    """One HTTP/1.1 connection to an upstream, carrying one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self._parser = ResponseParser()
        self.requests = 0  # exchanges begun on this connection; > 1 means it was reused
        self.closed = False
        self._head: asyncio.Future[ResponseHead] | None = None
        self._done: asyncio.Future[None] | None = None
        self._sink: Sink | None = None
        self._pending: list[ResponseEvent] = []  # events that arrived before the sink
        self._keep_alive = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._reading_paused = False
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None

    # asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def get_buffer(self, sizehint: int) -> memoryview:
        return _READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(_READ_BUFFER[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        if self._done is None or self._done.done():
            # Bytes nobody asked for (e.g. a body after a HEAD response): this connection's
            # framing is lost, so it must never be used again (Apache CVE-2022-22720).
            self.close()
            return
        self._last_activity = self._loop.time()
        for event in self._parser.feed(data):
            self._dispatch(event)
        if self._sink is not None:
            self._sink.flush()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timers()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if self._done is not None and not self._done.done():
            if not self._parser.started:
                self._fail(StaleConnection("The upstream closed the connection."))
            else:
                for event in self._parser.feed_eof():
                    self._dispatch(event)
                if self._sink is not None:
                    self._sink.flush()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # the exchange --------------------------------------------------------------------------

    def begin(self, method: bytes, head: bytes) -> None:
        """Send a request head; the response is awaited with `response_head()`."""
        self.requests += 1
        self._parser.start(method)
        self._head = self._loop.create_future()
        self._done = self._loop.create_future()
        self._sink = None
        self._pending = []
        self._keep_alive = False
        self._send(head)
        self._arm_watchdog()

    async def send_body(self, chunks: AsyncIterator[bytes], chunked: bool) -> bool:
        """Stream a request body; False if the upstream answered before it was all sent."""
        assert self._head is not None
        async for chunk in chunks:
            if self._head.done() or self.closed:
                return False
            if chunked:
                self._send_many((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
            else:
                self._send(chunk)
            if self._write_paused:
                await self._wait_drain()
        if chunked and not self.closed:
            self._send(b"0\r\n\r\n")
        return True

    async def response_head(self) -> ResponseHead:
        assert self._head is not None
        return await self._head

    def relay(self, sink: Sink) -> asyncio.Future[None]:
        """Send the response body to `sink`; the future resolves after the last byte."""
        assert self._done is not None
        self._sink = sink
        pending, self._pending = self._pending, []
        for event in pending:
            self._dispatch(event)
        sink.flush()
        return self._done

    @property
    def reusable(self) -> bool:
        return (
            self._keep_alive
            and not self.closed
            and self._done is not None
            and self._done.done()
            and not self._done.cancelled()
            and self._done.exception() is None
        )

    def pause_reading(self) -> None:
        """Backpressure from the client side: stop reading the upstream."""
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self._last_activity = self._loop.time()
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        self._cancel_timers()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self._cancel_timers()
        if self.transport is not None:
            self.transport.abort()

    # pool bookkeeping ----------------------------------------------------------------------

    def park(self, idle_timeout: float) -> None:
        self._cancel_timers()
        self._done = None
        # The last body bytes may have paused us for a slow client just before the end; an
        # idle connection must read, to notice the upstream closing it or stray bytes.
        self.resume_reading()
        self._idle_timer = self._loop.call_later(idle_timeout, self.close)

    def unpark(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    # internals -----------------------------------------------------------------------------

    def _dispatch(self, event: ResponseEvent) -> None:
        if isinstance(event, Body):
            if self._sink is None:
                self._pending.append(event)
            else:
                self._sink.body(event.data)
        elif event is END:
            if self._sink is None:
                self._pending.append(event)
                return
            self._cancel_timers()
            self._sink.end()
            assert self._done is not None
            if not self._done.done():
                self._done.set_result(None)
        elif isinstance(event, ResponseHead):
            self._keep_alive = event.keep_alive
            assert self._head is not None
            if not self._head.done():
                self._head.set_result(event)
        elif isinstance(event, errors.ProxyError):
            self._fail(event)

    def _fail(self, error: errors.ProxyError) -> None:
        self._keep_alive = False
        for future in (self._head, self._done):
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # mark it retrieved; a waiter, if any, still gets it
        self.abort()

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self._last_activity = self._loop.time()
            self.transport.write(data)

    def _send_many(self, parts: tuple[bytes, ...]) -> None:
        if self.transport is not None and not self.closed:
            self._last_activity = self._loop.time()
            self.transport.writelines(parts)

    async def _wait_drain(self) -> None:
        self._drain = self._loop.create_future()
        if self._write_paused and not self.closed:
            await self._drain

    def _arm_watchdog(self) -> None:
        self._last_activity = self._loop.time()
        timeout = self._pool.read_timeout
        self._watchdog = self._loop.call_later(timeout, self._check_activity)

    def _check_activity(self) -> None:
        """One timer for the whole exchange: something must move at least every
        `read_timeout` seconds while we wait for the upstream. An upstream we paused
        ourselves, because the client is slower than it, is not silent: the client side's
        send deadline (PROXY_SEND_TIMEOUT, measured by the bytes the client takes) is what
        gives up on a client that stops reading (issue 9)."""
        timeout = self._pool.read_timeout
        if self._reading_paused:
            self._watchdog = self._loop.call_later(timeout, self._check_activity)
            return
        idle = self._loop.time() - self._last_activity
        if idle < timeout:
            self._watchdog = self._loop.call_later(timeout - idle, self._check_activity)
            return
        self._watchdog = None
        self._fail(errors.GatewayTimeout())

    def _cancel_timers(self) -> None:
        for timer in (self._watchdog, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._watchdog = self._idle_timer = None


class Pool:
    """Idle keep-alive connections to one upstream, most recently used first."""

    def __init__(
        self,
        address: Address,
        *,
        connect_timeout: float,
        read_timeout: float,
        idle_timeout: float,
        max_idle: int,
    ) -> None:
        self.address = address
        self.loop = asyncio.get_running_loop()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.max_idle = max_idle
        self._idle: list[UpstreamConnection] = []

    async def acquire(self) -> UpstreamConnection:
        while self._idle:
            conn = self._idle.pop()
            conn.unpark()
            if not conn.closed:
                return conn
        return await self._connect()

    def release(self, conn: UpstreamConnection) -> None:
        """Pool a connection only after its whole response was read and it may persist."""
        if conn.reusable and len(self._idle) < self.max_idle:
            conn.park(self.idle_timeout)
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def _connect(self) -> UpstreamConnection:
        host, port = self.address.host, self.address.port
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self.loop.create_connection(
                    lambda: UpstreamConnection(self), host, port
                )
        except TimeoutError:
            raise ConnectTimedOut(
                f"The {self.address} service did not accept a connection in time."
            ) from None
        except OSError:
            raise ConnectFailed(f"The service at {self.address} is unreachable.") from None
        return conn


async def exchange(
    pool: Pool,
    method: bytes,
    head: bytes,
    body: AsyncIterator[bytes] | None = None,
    *,
    chunked: bool = False,
) -> tuple[UpstreamConnection, ResponseHead, bool]:
    """Send one request and wait for its response head.

    Returns the connection (to relay the body from and then release), the head, and whether
    the request body was sent whole. A request without a body that fails on a reused
    connection before any response byte is retried once on a fresh one if it is idempotent
    (RFC 9110 §9.2.2): the upstream may have closed the idle connection just as we sent.
    """
    for attempt in (1, 2):
        conn = await pool.acquire()
        try:
            conn.begin(method, head)
            sent_whole = True
            if body is not None:
                sent_whole = await conn.send_body(body, chunked)
            return conn, await conn.response_head(), sent_whole
        except StaleConnection:
            conn.abort()
            if attempt == 1 and conn.requests > 1 and body is None and method in IDEMPOTENT:
                continue
            raise
        except BaseException:
            conn.abort()
            raise
    raise AssertionError("unreachable")
