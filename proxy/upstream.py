"""Connections to the services behind the proxy, one exchange at a time, and a keep-alive
pool per service."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterable
from typing import Final, cast

from proxy import errors
from proxy.config import Address
from proxy.deadline import Deadline
from proxy.http1 import END, Body, ResponseEvent, ResponseHead, ResponseParser
from proxy.http1.writer import LAST_CHUNK, chunk
from proxy.runner import Signal, write_batched
from proxy.sink import Sink

IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


class StaleConnection(errors.BadGateway):
    """A pooled connection was closed by the upstream before it answered."""


class NotSent(errors.UpstreamError):
    """No connection could be made: the request never left the proxy, so any request may
    go to another replica."""


class ConnectFailed(NotSent, errors.BadGateway):
    """The upstream refused the connection or is unreachable."""


class ConnectTimedOut(NotSent, errors.GatewayTimeout):
    """The upstream did not accept a connection in time."""


# The most read from an upstream at once: what a stalled download can hold in our write
# buffer (see protocol.WRITE_HIGH_WATER). uvloop's own reads take up to 256 KiB. Measured
# (200 stalled 20 MB downloads): 76 KiB of proxy RSS each with 64 KiB reads, 133 KiB with
# 128 KiB, ~460 KiB before (issue 9); a fast 50 MB download costs ~20% more proxy CPU than
# with 256 KiB reads, at the same speed (the content service sets it).
READ_SIZE: Final = 64 * 1024
# One buffer for all upstream reads: each read is copied out before the loop reads again.
_READ_BUFFER: Final = memoryview(bytearray(READ_SIZE))


class Exchange:
    """One request and its response on an upstream connection.

    It owns what the forwarder waits on: `response` (a Signal for the head) and, only when
    the body is still arriving as the forwarder starts relaying it, a future for its end.
    Body bytes that arrive before the forwarder names a sink wait in `_pending`.
    """

    __slots__ = ("_done", "_pending", "_sink", "complete", "conn", "error", "keep_alive",
                 "response", "sent_whole")  # fmt: skip

    def __init__(self, conn: UpstreamConnection) -> None:
        self.conn = conn
        self.response: Signal[ResponseHead] = Signal()
        self.sent_whole = True  # the whole request body went out (see send_body)
        self.keep_alive = False
        self.complete = False  # the whole response arrived
        self.error: errors.ProxyError | None = None
        self._sink: Sink | None = None
        self._pending: list[bytes] = []  # body bytes that came before `relay`
        self._done: asyncio.Future[None] | None = None

    @property
    def head(self) -> ResponseHead:
        return self.response.value

    def relay(self, sink: Sink) -> asyncio.Future[None] | None:
        """Send the response body to `sink`. None if it is all there already (a small
        response comes with its head); else a future that resolves after the last byte."""
        self._sink = sink
        for data in self._pending:
            sink.body(data)
        self._pending = []
        if self.complete:
            sink.end()
        sink.flush()
        if self.error is not None:
            raise self.error
        if self.complete:
            return None
        self._done = self.conn.loop.create_future()
        return self._done

    async def relay_all(self, sink: Sink) -> None:
        """`relay`, and wait for the last byte."""
        done = self.relay(sink)
        if done is not None:
            await done

    def deliver(self, event: ResponseEvent) -> None:
        sink = self._sink
        if type(event) is Body:
            if sink is None:
                self._pending.append(event.data)
            else:
                sink.body(event.data)
        elif event is END:
            self.complete = True
            if sink is None:
                return  # relay ends the body
            sink.end()
            if self._done is not None and not self._done.done():
                self._done.set_result(None)
        elif isinstance(event, ResponseHead):
            self.keep_alive = event.keep_alive
            self.response.set(event)
        else:
            self.fail(errors.BadGateway(str(event)))  # a BrokenResponse

    def fail(self, error: errors.ProxyError) -> None:
        self.keep_alive = False
        if self.complete:
            return  # stray bytes after the response: only the connection suffers
        self.error = error
        self.response.fail(error)
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)
            self._done.exception()  # retrieved: a waiter, if any, still gets it

    def flush(self) -> None:
        if self._sink is not None:
            self._sink.flush()


class _State(enum.Enum):
    IDLE = "idle"  # connected, no exchange: fresh, or in the pool (the idle timeout runs)
    BUSY = "busy"  # an exchange: something must move every read timeout
    CLOSED = "closed"


# Looked up once (see http1.events.NO_BODY for why).
_IDLE: Final = _State.IDLE
_BUSY: Final = _State.BUSY
_CLOSED: Final = _State.CLOSED


class UpstreamConnection:
    """One HTTP/1.1 connection to an upstream, carrying one `Exchange` at a time.

    An asyncio buffered protocol by its methods (uvloop and asyncio look for `get_buffer`),
    not derived from asyncio.BufferedProtocol: so mypyc compiles it into a native class, as
    protocol.ClientConnection.

    Its one timer (a `Deadline`) is only ever moved earlier; when it fires, `_on_timer`
    works out from the state and the last activity whether a deadline really passed, and
    re-arms if not. So a request costs no timer churn, only a clock read.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self._parser = ResponseParser()
        self.exchange: Exchange | None = None
        self.requests = 0  # exchanges begun on this connection; > 1 means it was reused
        self.state = _IDLE
        self._since = 0.0  # last activity (BUSY) or when it was parked (IDLE)
        self._timer = Deadline(self.loop, self._on_timer)
        self._reading_paused = False  # by us: the client is slower than the upstream
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        return self.state is _CLOSED

    # asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio's classes, hence the cast).
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(_READ_BUFFER[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None or ex.complete:
            # Bytes nobody asked for (e.g. a body after a HEAD response): this connection's
            # framing is lost, so it must never be used again (Apache CVE-2022-22720).
            self.close()
            return
        self._since = self.loop.time()
        for event in self._parser.feed(data):
            ex.deliver(event)
        ex.flush()
        if ex.error is not None:
            self.abort()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _CLOSED
        self._timer.cancel()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        ex = self.exchange
        if ex is not None and not ex.complete:
            if not self._parser.started:
                ex.fail(StaleConnection("The upstream closed the connection."))
            else:
                for event in self._parser.feed_eof():
                    ex.deliver(event)
                ex.flush()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # the exchange --------------------------------------------------------------------------

    def begin(self, method: bytes, head: bytes) -> Exchange:
        """Send a request head; the response is awaited on the returned exchange."""
        self.requests += 1
        self._parser.start(method)
        self.exchange = ex = Exchange(self)
        self.state = _BUSY
        self._send((head,))
        self._timer.schedule(self._since + self.pool.read_timeout)
        return ex

    async def send_body(self, chunks: AsyncIterable[bytes], chunked: bool) -> bool:
        """Stream a request body; False if the upstream answered before it was all sent."""
        ex = self.exchange
        assert ex is not None
        async for data in chunks:
            if ex.response.fired or self.closed:
                return False
            self._send(chunk(data) if chunked else (data,))
            if self._write_paused:
                await self._wait_drain()
        if chunked and not self.closed:
            self._send((LAST_CHUNK,))
        return True

    @property
    def reusable(self) -> bool:
        ex = self.exchange
        return ex is not None and ex.complete and ex.keep_alive and not self.closed

    def pause_reading(self) -> None:
        """Backpressure from the client side: stop reading the upstream."""
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self._since = self.loop.time()
            self.transport.resume_reading()

    def close(self) -> None:
        self.state = _CLOSED
        self._timer.cancel()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.state = _CLOSED
        self._timer.cancel()
        if self.transport is not None:
            self.transport.abort()

    # pool bookkeeping ----------------------------------------------------------------------

    def park(self) -> None:
        """Into the pool: idle until taken again or the idle timeout passes."""
        self.exchange = None
        self.state = _IDLE
        self._since = self.loop.time()
        # The last body bytes may have paused us for a slow client just before the end; an
        # idle connection must read, to notice the upstream closing it or stray bytes.
        self.resume_reading()
        self._timer.schedule(self._since + self.pool.idle_timeout)

    # the one timer -------------------------------------------------------------------------

    def _on_timer(self) -> None:
        """Idle: close after the pool's idle timeout. Busy: something must move at least
        every read timeout while we wait for the upstream. An upstream we paused ourselves,
        because the client is slower than it, is not silent: the client side's send
        deadline (measured by the bytes the client takes) gives up on a client that stops
        reading (issue 9)."""
        now = self.loop.time()
        if self.state is _IDLE:
            if now >= self._since + self.pool.idle_timeout:
                self.close()
            else:
                self._timer.schedule(self._since + self.pool.idle_timeout)
        elif self.state is _BUSY:
            if self._reading_paused:
                self._timer.schedule(now + self.pool.read_timeout)
            elif now >= self._since + self.pool.read_timeout:
                assert self.exchange is not None
                self.exchange.fail(errors.GatewayTimeout())
                self.abort()
            else:
                self._timer.schedule(self._since + self.pool.read_timeout)

    # writing -------------------------------------------------------------------------------

    def _send(self, parts: tuple[bytes, ...]) -> None:
        if self.transport is not None and not self.closed:
            self._since = self.loop.time()
            write_batched(self.transport, parts)

    async def _wait_drain(self) -> None:
        self._drain = self.loop.create_future()
        if self._write_paused and not self.closed:
            await self._drain


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

    def take(self) -> UpstreamConnection | None:
        """The most recently parked connection that is still open, if any."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        """Pool a connection only after its whole response was read and it may persist."""
        if conn.reusable and len(self._idle) < self.max_idle:
            conn.park()
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def connect(self) -> UpstreamConnection:
        host, port = self.address.host, self.address.port
        connecting = self.loop.create_connection(
            lambda: cast(asyncio.BufferedProtocol, UpstreamConnection(self)), host, port
        )
        try:
            # wait_for, not asyncio.timeout(): the client side runs this in a Runner, which
            # is no Task (proxy/runner.py).
            _, protocol = await asyncio.wait_for(connecting, self.connect_timeout)
            conn = cast(UpstreamConnection, protocol)
        except TimeoutError:
            raise ConnectTimedOut(
                f"The {self.address} service did not accept a connection in time."
            ) from None
        except OSError:
            raise ConnectFailed(f"The service at {self.address} is unreachable.") from None
        return conn


async def send(
    pool: Pool,
    method: bytes,
    head: bytes,
    body: AsyncIterable[bytes] | None = None,
    *,
    chunked: bool = False,
) -> Exchange:
    """Send one request and wait for its response head (`Exchange.head` once this returns).

    A request without a body that fails on a reused connection before any response byte is
    retried once on a fresh one if it is idempotent (RFC 9110 §9.2.2): the upstream may have
    closed the idle connection just as we sent.
    """
    for attempt in (1, 2):
        conn = pool.take() or await pool.connect()
        try:
            ex = conn.begin(method, head)
            if body is not None:
                ex.sent_whole = await conn.send_body(body, chunked)
            await ex.response
            return ex
        except StaleConnection:
            conn.abort()
            if attempt == 1 and conn.requests > 1 and body is None and method in IDEMPOTENT:
                continue
            raise
        except BaseException:
            conn.abort()
            raise
    raise AssertionError("unreachable")
