"""The client side: a thin asyncio Protocol around the sans-IO parser.

It owns the transport, the timers and flow control; the forwarding logic lives in
`forward.py`. Requests on a connection are served one at a time, in order; pipelined
requests wait in a queue while reading from the client is paused.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from typing import TYPE_CHECKING

from proxy import errors
from proxy.exchange import Exchange, RequestBody
from proxy.headers import Headers, encode_response_head
from proxy.http1 import END, Body, RequestHead, RequestParser
from proxy.keepalive import CLOSE, KeepAlive
from proxy.pages import error_response
from proxy.request_id import HEADER as REQUEST_ID
from proxy.tls import HSTS

if TYPE_CHECKING:
    from proxy.server import ServerState
    from proxy.upstream import UpstreamConnection

log = logging.getLogger("gatehouse.proxy")

WRITE_HIGH_WATER = 256 * 1024


class _Timer(enum.Enum):
    IDLE = "idle"  # between requests: the keep-alive timeout
    HEAD = "head"  # a request head has begun: the header deadline (not reset by trickling)
    BODY = "body"  # a request body is arriving: the longest allowed stall


# Why reading from the client is paused (plain strings: cheap to hash in the hot path).
_PAUSE_BODY = "body"  # the request body buffer is full
_PAUSE_PIPELINE = "pipeline"  # requests are queued behind the one being served
_PAUSE_STOPPED = "stopped"  # the parser failed or the connection is closing


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: ServerState) -> None:
        self._server = server
        self._settings = server.settings
        self._loop = server.loop
        self.id = 0
        self.transport: asyncio.Transport | None = None
        self.peer_ip = b"-"
        self.tls = False
        self._parser = RequestParser(self._settings.limits)
        self.keepalive = KeepAlive(self._settings.keepalive_timeout, self._settings.keepalive_max)
        self._queue: collections.deque[Exchange] = collections.deque()
        self._receiving: Exchange | None = None  # whose body the parser is reading
        self._task: asyncio.Task[None] | None = None
        self._requests = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_kind: _Timer | None = None
        self._paused: set[str] = set()
        self._write_paused = False
        self._relay_source: UpstreamConnection | None = None
        self.closed = False

    # asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.tls = transport.get_extra_info("sslcontext") is not None
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_ip = peer[0].encode()
        if not self._server.admit(self):
            # Over the connection limit: refuse in HTTP rather than accept without bound.
            error = errors.ServiceUnavailable()
            headers, body = error_response(error, list(CLOSE))
            transport.writelines((encode_response_head(error.status, headers), body))
            self._close()
            return
        self.id = self._server.connection_opened(self)
        self._update_timer()

    def data_received(self, data: bytes) -> None:
        for event in self._parser.feed(data):
            if isinstance(event, Body):
                assert self._receiving is not None and self._receiving.body is not None
                self._receiving.body.feed(event.data)
            elif event is END:
                assert self._receiving is not None and self._receiving.body is not None
                self._receiving.body.finish()
                self._receiving = None
            elif isinstance(event, RequestHead):
                self._on_request(event)
            elif isinstance(event, errors.ProxyError):
                self._on_parse_error(event)
        if self._server.tracer is not None:  # before any answer: those come from the task
            self._server.tracer.client_bytes(self, self.id, data)
        self._update_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        self._server.connection_closed(self)
        if self._relay_source is not None:
            # The client left mid-response: the upstream connection is in an unknown state.
            self._relay_source.abort()
        if self._task is not None:
            self._task.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._relay_source is not None:
            self._relay_source.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._relay_source is not None:
            self._relay_source.resume_reading()

    # parser events -------------------------------------------------------------------------

    def _on_request(self, head: RequestHead) -> None:
        self._requests += 1
        ex = Exchange(self._requests, head, RequestBody(self._pause_body, self._resume_body))
        self._receiving = ex
        self._enqueue(ex)

    def _on_parse_error(self, error: errors.ProxyError) -> None:
        self._pause(_PAUSE_STOPPED)
        receiving, self._receiving = self._receiving, None
        if receiving is not None and receiving.body is not None:
            # The error is in this request's body: its forwarder meets it while reading the
            # body and answers, or aborts if its response already began.
            receiving.body.fail(error)
            return
        self._requests += 1
        self._enqueue(Exchange(self._requests, None, error=error))

    def _enqueue(self, ex: Exchange) -> None:
        ex.started = time.perf_counter()
        self._queue.append(ex)
        if self._task is None:
            self._task = self._loop.create_task(self._serve())
        else:
            self._pause(_PAUSE_PIPELINE)

    # serving -------------------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            while self._queue and not self.closed:
                ex = self._queue.popleft()
                if not self._queue:
                    self._resume(_PAUSE_PIPELINE)
                if self._server.tracer is not None:
                    self._server.tracer.serving(self.id, ex.number)
                await self._serve_one(ex)
                if ex.close_after:
                    self._close()
                    break
        finally:
            self._task = None
            if not self.closed:
                self._update_timer()

    async def _serve_one(self, ex: Exchange) -> None:
        try:
            if ex.error is not None:
                raise ex.error
            await self._server.forwarder.forward(ex, self)
        except errors.ProxyError as error:
            self._fail(ex, error)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("conn=%d req=%d: unexpected error", self.id, ex.number)
            self._fail(ex, errors.BadGateway(f"Internal error: {type(exc).__name__}."))
        self._server.log_exchange(self, ex)

    def _fail(self, ex: Exchange, error: errors.ProxyError) -> None:
        """Answer with an error page, or abort if a response head already went out (a
        second status would be read as the start of the next response)."""
        if ex.response_started:
            ex.close_after = True
            self._abort()
            return
        head_only = ex.head is not None and ex.head.method == b"HEAD"
        connection = self._connection_headers(ex, force_close=error.close or ex.body_unread)
        ex.status = error.status
        ex.response_started = True
        headers, body = error_response(error, connection)
        if ex.request_id:
            headers.append((REQUEST_ID, ex.request_id))
        head = self._encode_head(ex, error.status, headers)
        if head_only:
            self._write(head)
        else:
            ex.bytes_sent = len(body)
            self._write(head + body)

    # what the forwarder uses ---------------------------------------------------------------

    def send_continue(self) -> None:
        self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def begin_response(
        self, ex: Exchange, status: int, headers: Headers, *, chunked: bool, close: bool
    ) -> _ResponseWriter:
        headers += self._connection_headers(ex, force_close=close or ex.body_unread)
        if ex.request_id:
            headers.append((REQUEST_ID, ex.request_id))
        ex.status = status
        ex.response_started = True
        return _ResponseWriter(self, ex, chunked, self._encode_head(ex, status, headers))

    def _encode_head(self, ex: Exchange, status: int, headers: Headers) -> bytes:
        head = encode_response_head(status, headers)
        if self._server.tracer is not None:
            self._server.tracer.response(self.id, ex.number, head, self.keepalive.remaining)
        return head

    def relay_from(self, conn: UpstreamConnection | None) -> None:
        """Link flow control: while the client cannot take more, stop reading `conn`."""
        self._relay_source = conn
        if conn is not None and self._write_paused:
            conn.pause_reading()

    def _connection_headers(self, ex: Exchange, *, force_close: bool) -> Headers:
        wants_keep_alive = ex.head is not None and ex.head.keep_alive
        headers, ex.close_after = self.keepalive.next_response(
            wants_keep_alive, force_close=force_close or self._server.shutting_down
        )
        if self.tls:
            headers.append(HSTS)  # every response over TLS, the proxy's own pages included
        return headers

    # transport, timers, flow control -------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def _close(self) -> None:
        self._cancel_timer()
        self._pause(_PAUSE_STOPPED)
        if self.transport is not None:
            self.transport.close()

    def _abort(self) -> None:
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()

    def close_if_idle(self) -> None:
        """For shutdown: close now unless a request is being served or arriving."""
        if self._task is None and not self._parser.in_head and not self._parser.in_body:
            self._close()

    def _pause_body(self) -> None:
        self._pause(_PAUSE_BODY)

    def _resume_body(self) -> None:
        self._resume(_PAUSE_BODY)

    def _pause(self, reason: str) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._paused.add(reason)
        self._update_timer()

    def _resume(self, reason: str) -> None:
        if reason not in self._paused:
            return
        self._paused.discard(reason)
        if not self._paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()
        self._update_timer()

    def _update_timer(self) -> None:
        """The one client timer, chosen from the connection's state."""
        if self.closed or _PAUSE_STOPPED in self._paused:
            self._cancel_timer()
        elif self._parser.in_head:
            if self._timer_kind is not _Timer.HEAD:  # a deadline, not an inactivity timer
                self._arm(_Timer.HEAD, self._settings.header_timeout)
        elif self._parser.in_body and not self._paused:
            self._arm(_Timer.BODY, self._settings.body_timeout)  # re-armed by every read
        elif self._task is None:
            if self._timer_kind is not _Timer.IDLE:
                self._arm(_Timer.IDLE, self._settings.keepalive_timeout)
        else:
            self._cancel_timer()

    def _arm(self, kind: _Timer, delay: float) -> None:
        self._cancel_timer()
        self._timer_kind = kind
        self._timer = self._loop.call_later(delay, self._on_timer, kind)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_kind = None

    def _on_timer(self, kind: _Timer) -> None:
        self._timer = None
        self._timer_kind = None
        if kind is _Timer.IDLE:
            self._close()
        else:
            what = "header section" if kind is _Timer.HEAD else "request body"
            self._on_parse_error(errors.RequestTimeout(f"The {what} did not arrive in time."))


class _ResponseWriter:
    """Writes an upstream's response to the client, re-framed if needed.

    Parts are collected and flushed once per batch of upstream events, so a small response
    (head and body arriving together) leaves in a single writev instead of one write each.
    """

    __slots__ = ("_chunked", "_conn", "_ex", "_parts")

    def __init__(self, conn: ClientConnection, ex: Exchange, chunked: bool, head: bytes) -> None:
        self._conn, self._ex, self._chunked = conn, ex, chunked
        self._parts = [head]

    def body(self, data: bytes) -> None:
        self._ex.bytes_sent += len(data)
        if self._chunked:
            self._parts += (b"%x\r\n" % len(data), data, b"\r\n")
        else:
            self._parts.append(data)

    def end(self) -> None:
        if self._chunked:
            self._parts.append(b"0\r\n\r\n")

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        transport = self._conn.transport
        if parts and transport is not None and not self._conn.closed:
            transport.writelines(parts)
