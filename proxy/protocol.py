"""The client side: a thin asyncio Protocol around the sans-IO parser.

It owns the transport, the timers and flow control; the forwarding logic lives in
`forward.py`. Requests on a connection are served one at a time, in order; pipelined
requests wait in a queue while reading from the client is paused.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import fcntl
import logging
import os
import socket
import struct
import termios
import time
from typing import TYPE_CHECKING, Final, Protocol, cast

from proxy import errors
from proxy.deadline import Deadline
from proxy.http1 import END, NO_BODY, Body, ProtocolError, RequestHead, RequestParser
from proxy.http1.headers import Headers
from proxy.http1.keepalive import CLOSE, KeepAlive
from proxy.http1.writer import LAST_CHUNK, chunk, encode_response_head
from proxy.pages import error_response
from proxy.request_id import HEADER as REQUEST_ID
from proxy.runner import Runner, Signal
from proxy.tls import HSTS
from proxy.transaction import RequestBody, Transaction

if TYPE_CHECKING:
    from proxy.server import ServerState
    from proxy.upstream import UpstreamConnection

log = logging.getLogger("gatehouse.proxy")

# Our write buffer toward the client: reading the upstream pauses as soon as a write leaves
# anything in it (the client's kernel buffers are full) and resumes once it is empty, so a
# stalled download holds at most one upstream read (upstream.READ_SIZE) here. The kernel's
# socket buffers keep a fast client busy meanwhile (issue 9: ~0.46 MB per stalled download
# with a 256 KiB high-water mark and 256 KiB reads, 76 KiB now).
WRITE_HIGH_WATER: Final = 0

# How long a connection that we close after an error, while the client may still be sending,
# goes on reading and dropping what comes (see ClientConnection._linger); nginx's
# lingering_timeout is 5 s too.
LINGER_TIMEOUT: Final = 5.0

# How often a paused response checks whether the client took any bytes (a quarter of the
# send timeout: a client is cut after 1 to 1.25 send timeouts without progress).
SEND_CHECKS: Final = 4
# A client whose kernel buffers megabytes acknowledges in bursts: its TCP reopens a full
# receive window only once the application has read a good part of it (the buffer grows to
# 32 MB on Linux), so `curl --limit-rate` on loopback went 12-22 s (200 KB/s) and over 30 s
# (32 KB/s) without acknowledging anything while reading steadily. So the deadline after the
# last progress is the send timeout plus the time to read what the client took of this
# response at SEND_BATCH_RATE, at most SEND_BATCH_CAP more send timeouts: a client that
# stops reading is cut within five send timeouts, one with small buffers within about one.
SEND_BATCH_RATE: Final = 16 * 1024
SEND_BATCH_CAP: Final = 4


class Pipeline(Protocol):
    """What a connection needs from the forwarding pipeline (`forward.Forwarder`; a
    Protocol, so that tests may give a stand-in to the compiled module too)."""

    async def forward(self, tx: Transaction, client: ClientConnection) -> None: ...


class State(enum.Enum):
    """Where a client connection is; each state but SERVING and CLOSED has a deadline."""

    IDLE = "idle"  # between requests: the keep-alive timeout
    HEAD = "head"  # a request head has begun: the header deadline (not reset by trickling)
    BODY = "body"  # a request body is arriving: the longest stall, and the minimum rate
    SERVING = "serving"  # a response is on its way (the upstream's watchdog covers waiting)
    SENDING = "sending"  # our write buffer is full: the client must take bytes (send_timeout)
    LINGER = "linger"  # half-closed after an error: what the client still sends is dropped
    CLOSED = "closed"  # closed, or closing after a parse error: no more reading


# The members as module constants: in Python 3.11 each `State.X` is looked up through
# EnumType.__getattr__, a hook written in Python (see http1.events.NO_BODY).
IDLE: Final = State.IDLE
HEAD: Final = State.HEAD
BODY: Final = State.BODY
SERVING: Final = State.SERVING
SENDING: Final = State.SENDING
LINGER: Final = State.LINGER
CLOSED: Final = State.CLOSED


# Why reading from the client is paused (plain strings: cheap to hash in the hot path).
_PAUSE_BODY: Final = "body"  # the request body buffer is full
_PAUSE_PIPELINE: Final = "pipeline"  # requests are queued behind the one being served
_PAUSE_STOPPED: Final = "stopped"  # the parser failed or the connection is closing


class ClientConnection:
    """An asyncio protocol (by its methods: the event loop calls them by name). It does not
    derive from asyncio.Protocol so that mypyc compiles it into a native class, whose
    attributes are C struct fields rather than dictionary entries (issue 13)."""

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
        self._queue: collections.deque[Transaction] = collections.deque()
        self._receiving: Transaction | None = None  # whose body the parser is reading
        self._runner: Runner | None = None  # runs _serve from the first request on
        self._next: Signal[None] | None = None  # _serve waits for a request
        self._requests = 0
        self.state = IDLE
        self._since = 0.0  # when the state began
        self._timer = Deadline(self._loop, self._on_timer)
        self._paused: set[str] = set()
        self._write_paused = False
        self._relay_source: UpstreamConnection | None = None
        self.closed = False
        self._lingering = False
        self._serving: Transaction | None = None  # whose response is being written
        # Bytes given to the transport, and how many of those have left our write buffer for
        # the kernel as of the last look (the send deadline and the access log count these).
        self._written = 0
        self._handed = 0
        self._flushed: asyncio.Future[None] | None = None
        # BODY timer: when the current stretch of body began, how much had arrived by then,
        # and when the last bytes came.
        self._body_last = 0.0
        self._body_base = 0
        # SEND timer: what the client had taken at the last progress, and when.
        self._send_mark = 0
        self._send_since = 0.0
        self._send_grace = 0.0  # extra time to read what it took (see SEND_BATCH_RATE)
        self._send_fresh = False

    # asyncio callbacks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio's classes, hence the cast).
        self.transport = transport = cast(asyncio.Transport, transport)
        self.tls = transport.get_extra_info("sslcontext") is not None
        # uvloop's TLS transport pauses at size >= high where its TCP one pauses at
        # size > high: with 0 it would pause on an empty buffer and never resume.
        high = WRITE_HIGH_WATER + 1 if self.tls else WRITE_HIGH_WATER
        transport.set_write_buffer_limits(high=high, low=0)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_ip = peer[0].encode()
        if not self._server.admit(self):
            # Over a connection limit: refuse in HTTP rather than accept without bound.
            error = errors.ServiceUnavailable()
            headers, body = error_response(error, list(CLOSE))
            _discard_unread(transport)
            transport.writelines((encode_response_head(error.status, headers), body))
            self._close()
            return
        self.id = self._server.connection_opened(self)
        self._enter(IDLE)

    def data_received(self, data: bytes) -> None:
        if self.state is LINGER:
            return  # dropped: we answered and are closing (see _linger)
        if self.state is BODY:
            self._body_last = self._loop.time()
        for event in self._parser.feed(data):
            if type(event) is Body:
                assert self._receiving is not None and self._receiving.body is not None
                self._receiving.body.feed(event.data)
            elif event is END:
                if self._receiving is not None:  # else a request without a body
                    assert self._receiving.body is not None
                    self._receiving.body.finish()
                    self._receiving = None
            elif type(event) is RequestHead:
                self._on_request(event)
            elif isinstance(event, ProtocolError):
                self._on_parse_error(errors.from_protocol(event))
        if self._server.tracer is not None:  # before any answer: those come from _serve
            self._server.tracer.client_bytes(self.id, data)
        self._update_state()

    def eof_received(self) -> None:
        """The client closed its side: close ours too (asyncio.Protocol's default)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._update_state()
        self._server.connection_closed(self)
        if self._server.tracer is not None:
            self._server.tracer.client_closed(self.id)
        if self._serving is not None and not self._serving.aborted:
            self._serving.aborted = "client"  # unless we cut it ourselves (see _abort)
        if self._relay_source is not None:
            # The client left mid-response: the upstream connection is in an unknown state.
            self._relay_source.abort()
        if self._runner is not None:
            self._runner.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._relay_source is not None:
            self._relay_source.pause_reading()
        self._update_state()

    def resume_writing(self) -> None:
        # Low water is 0: our buffer is empty, everything written is with the kernel.
        self._write_paused = False
        self._handed = self._written
        if self._flushed is not None:
            if not self._flushed.done():  # else cancelled: the client left
                self._flushed.set_result(None)
            self._flushed = None
        if self._relay_source is not None:
            self._relay_source.resume_reading()
        self._update_state()

    # parser events -------------------------------------------------------------------------

    def _on_request(self, head: RequestHead) -> None:
        self._requests += 1
        tx = Transaction(self._requests, head)
        if head.framing is not NO_BODY:
            tx.body = RequestBody(self._pause_body, self._resume_body)
            self._receiving = tx
        self._enqueue(tx)

    def _on_parse_error(self, error: errors.ProxyError) -> None:
        self._pause(_PAUSE_STOPPED)
        receiving, self._receiving = self._receiving, None
        if receiving is not None and receiving.body is not None:
            # The error is in this request's body: its forwarder meets it while reading the
            # body and answers, or aborts if its response already began.
            receiving.body.fail(error)
            return
        self._requests += 1
        self._enqueue(Transaction(self._requests, None, error=error))

    def _enqueue(self, tx: Transaction) -> None:
        tx.started = time.perf_counter()
        self._queue.append(tx)
        if self._runner is None:
            self._runner = Runner(self._loop, self._serve())
            self._runner.start()
        elif self._next is not None:
            self._next.set(None)  # _serve wakes to this one; more queue up behind
            self._next = None
        else:
            self._pause(_PAUSE_PIPELINE)

    # serving -------------------------------------------------------------------------------

    async def _serve(self) -> None:
        """The connection's one coroutine, from its first request on (run by a `Runner`):
        serves the requests in order, then waits for the next one. A task per request cost
        about 8,000 CPU instructions more per request (callgrind), with its entry in
        asyncio's set of all tasks."""
        queue = self._queue
        while not self.closed:
            if not queue:
                self._next = Signal()
                self._update_state()
                await self._next
                continue
            tx = queue.popleft()
            if not queue:
                self._resume(_PAUSE_PIPELINE)
            if self._server.tracer is not None:
                self._server.tracer.serving(self.id, tx.number)
            self._serving = tx
            try:
                try:
                    if tx.error is not None:
                        raise tx.error
                    await self._server.forwarder.forward(tx, self)
                except errors.ProxyError as error:
                    self._fail(tx, error)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception("conn=%d req=%d: unexpected error", self.id, tx.number)
                    self._fail(tx, errors.BadGateway(f"Internal error: {type(exc).__name__}."))
                if (flushed := self._until_flushed()) is not None:
                    await flushed
            finally:
                self._served(tx)
            if tx.close_after:
                if tx.error is not None or tx.body_unread:
                    self._linger()  # the client may still be sending
                else:
                    self._close()
                return

    def _served(self, tx: Transaction) -> None:
        """Every request gets its line, also when it was cut short (the task is cancelled
        when the client leaves): what reached the kernel, and why it ended early."""
        self._serving = None
        if not tx.response_started and tx.aborted:
            tx.status = 499  # nginx's "client closed request": nothing was sent
        handed_body = self._handed_now() - tx.body_at
        tx.bytes_sent = max(0, min(tx.bytes_sent, handed_body))
        seconds = time.perf_counter() - tx.started
        server = self._server
        # Counted here, in compiled code, not in an interpreted method of the server: that,
        # and `Counts` no longer a dict subclass, saved ~2,700 instructions a request.
        method = tx.head.method if tx.head is not None else None
        server.traffic.count(tx.route, method, tx.status, seconds, tx.bytes_sent, tx.cache)
        if server.access_log is not None:
            server.access_log.write(tx, self.peer_ip, self.id, seconds)

    def _until_flushed(self) -> asyncio.Future[None] | None:
        """A future for our write buffer being empty (resume_writing resolves it), or None if
        it is: the response is complete only once all of it is with the kernel (the send
        deadline runs meanwhile)."""
        transport = self.transport
        # Empty at the last look (_write_parts) with nothing written since: no need to ask.
        if (
            self._handed == self._written
            or transport is None
            or self.closed
            or not transport.get_write_buffer_size()
        ):
            return None
        self._flushed = self._loop.create_future()
        return self._flushed

    def _fail(self, tx: Transaction, error: errors.ProxyError) -> None:
        """Answer with an error page, or abort if a response head already went out (a
        second status would be read as the start of the next response)."""
        if tx.response_started:
            tx.close_after = True
            if isinstance(error, errors.UpstreamError):
                self._abort("upstream")
            elif isinstance(error, errors.RequestTimeout):
                self._abort("timeout")
            else:
                self._abort("client")
            return
        head_only = tx.head is not None and tx.head.method == b"HEAD"
        connection = self._connection_headers(tx, force_close=error.close or tx.body_unread)
        tx.status = error.status
        tx.response_started = True
        headers, body = error_response(error, connection)
        if tx.request_id:
            headers.append((REQUEST_ID, tx.request_id))
        head = self._encode_head(tx, error.status, headers)
        tx.body_at = self._written + len(head)
        if head_only:
            self._write(head)
        else:
            tx.bytes_sent = len(body)
            self._write(head + body)

    # what the forwarder uses ---------------------------------------------------------------

    def send_continue(self) -> None:
        self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def begin_response(
        self, tx: Transaction, status: int, headers: Headers, *, chunked: bool, close: bool
    ) -> _ResponseWriter:
        headers += self._connection_headers(tx, force_close=close or tx.body_unread)
        if tx.request_id:
            headers.append((REQUEST_ID, tx.request_id))
        tx.status = status
        tx.response_started = True
        head = self._encode_head(tx, status, headers)
        tx.body_at = self._written + len(head)  # the writer sends the head first
        return _ResponseWriter(self, tx, chunked, head)

    def _encode_head(self, tx: Transaction, status: int, headers: Headers) -> bytes:
        head = encode_response_head(status, headers)
        if self._server.tracer is not None:
            self._server.tracer.response(self.id, tx.number, head, self.keepalive.remaining)
        return head

    def relay_from(self, conn: UpstreamConnection | None) -> None:
        """Link flow control: while the client cannot take more, stop reading `conn`."""
        self._relay_source = conn
        if conn is not None and self._write_paused:
            conn.pause_reading()

    def _connection_headers(self, tx: Transaction, *, force_close: bool) -> Headers:
        wants_keep_alive = tx.head is not None and tx.head.keep_alive
        headers, tx.close_after = self.keepalive.next_response(
            wants_keep_alive, force_close=force_close or self._server.shutting_down
        )
        if self.tls:
            headers.append(HSTS)  # every response over TLS, the proxy's own pages included
        return headers

    # transport, timers, flow control -------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._write_parts((data,))

    def _write_parts(self, parts: list[bytes] | tuple[bytes, ...]) -> None:
        transport = self.transport
        if transport is not None and not self.closed:
            for part in parts:
                self._written += len(part)
            transport.writelines(parts)
            # Look at what left our buffer at once (the kernel usually takes it all here):
            # after the client is gone the transport no longer knows, and the access log
            # must count what was handed over, no more and no less.
            self._handed = self._written - transport.get_write_buffer_size()

    def _handed_now(self) -> int:
        """Bytes that have left our write buffer (as of now while the connection is open,
        else as of the last look)."""
        if self._handed == self._written:
            return self._handed  # our buffer was empty at the last look: nothing can leave it
        transport = self.transport
        if transport is not None and not self.closed and not transport.is_closing():
            self._handed = self._written - transport.get_write_buffer_size()
        return self._handed

    def _linger(self) -> None:
        """Close in stages, as RFC 9112 §9.6 asks when the client may still be sending (a
        request we refused, or whose body we did not read): our side first (a FIN after the
        answer), then read and drop what comes until the client closes too or LINGER_TIMEOUT
        passes. Closing at once would answer the client's next bytes with a reset, which can
        destroy our answer before the client reads it."""
        transport = self.transport
        if transport is None or transport.is_closing() or not transport.can_write_eof():
            self._close()  # cut (aborted) already; or TLS, which has no half-close
            return
        self._lingering = True
        transport.write_eof()
        transport.resume_reading()
        self._update_state()

    def _close(self) -> None:
        self._timer.cancel()
        self._pause(_PAUSE_STOPPED)
        if self.transport is not None:
            self.transport.close()

    def _abort(self, reason: str) -> None:
        """Cut the connection; the response being written, if any, is marked `reason`."""
        self._timer.cancel()
        if self._serving is not None and not self._serving.aborted:
            self._serving.aborted = reason
        # What the client's TCP acknowledged is what it got: the access log counts that, and
        # a reset (linger 0) drops the rest instead of delivering it after the fact.
        self._handed = self._taken()
        transport = self.transport
        sock = transport.get_extra_info("socket") if transport and not self.closed else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self.transport is not None:
            self.transport.abort()

    def abort(self, reason: str) -> None:
        """For shutdown once the grace period is over."""
        self._abort(reason)

    def close_idle(self) -> None:
        """Close a keep-alive connection waiting for its next request (a full connection
        table reclaims these first, like nginx's ngx_drain_connections)."""
        self._close()

    def close_if_idle(self) -> None:
        """For shutdown: close now unless a request is being served or arriving."""
        if self._serving is None and not self._queue and not self._parser.in_head:
            self._close()

    def _pause_body(self) -> None:
        self._pause(_PAUSE_BODY)

    def _resume_body(self) -> None:
        self._resume(_PAUSE_BODY)

    def _pause(self, reason: str) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._paused.add(reason)
        self._update_state()

    def _resume(self, reason: str) -> None:
        if reason not in self._paused:
            return
        self._paused.discard(reason)
        if not self._paused and self.transport is not None and not self.closed:
            self.transport.resume_reading()
        self._update_state()

    # The connection's state and its one timer (issue 9 added BODY's minimum rate and
    # SENDING). `_update_state` derives the state; `_enter` is the one place a state's
    # deadline is set on the one timer (a `Deadline`, only ever moved earlier). When it
    # fires, `_on_timer` works out from the state and the progress made whether a deadline
    # really passed, and re-arms for what is left if not. So a keep-alive request costs no
    # timer churn: reads and writes only note the time.

    def _update_state(self) -> None:
        if self.closed:
            state = CLOSED
        elif self._lingering:
            state = LINGER
        elif _PAUSE_STOPPED in self._paused:
            state = CLOSED
        elif self._parser.in_head:
            state = HEAD
        elif self._parser.in_body and not self._paused:
            state = BODY
        elif self._serving is None and not self._queue:
            state = IDLE
        elif self._write_paused:
            state = SENDING
        else:
            state = SERVING
        if state is not self.state:
            self._enter(state)

    def _enter(self, state: State) -> None:
        previous, self.state = self.state, state
        now = self._since = self._loop.time()
        if previous is IDLE:
            self._server.idle.pop(self, None)
        if state is IDLE:
            if self._requests:
                # Between requests (not a fresh connection, whose request may be on its way
                # already): newest last, so the longest idle is reclaimed first.
                self._server.idle[self] = None
            self._timer.schedule(now + self._settings.keepalive_timeout)
        elif state is HEAD:
            self._timer.schedule(now + self._settings.header_timeout)
        elif state is BODY:
            # A new stretch of body: time spent paused by our own flow control (the
            # upstream is slow to take it) is not held against the client.
            self._body_last = now
            assert self._receiving is not None and self._receiving.body is not None
            self._body_base = self._receiving.body.received
            self._timer.schedule(now + self._settings.body_timeout)
        elif state is SENDING:
            self._send_fresh = True  # the first check takes the measure
            self._timer.schedule(now + self._settings.send_timeout / SEND_CHECKS)
        elif state is LINGER:
            self._timer.schedule(now + LINGER_TIMEOUT)
        elif state is CLOSED:
            self._timer.cancel()
        # SERVING: no deadline of the client's; a timer already armed finds that out.

    def _on_timer(self) -> None:
        now = self._loop.time()
        state = self.state
        settings = self._settings
        if state is SENDING:
            self._send_progress(now)
            if now - self._send_since < settings.send_timeout + self._send_grace:
                self._timer.schedule(now + settings.send_timeout / SEND_CHECKS)
                return
            log.info(
                "conn=%d: client took nothing for %ss; closing", self.id, settings.send_timeout
            )
            self._abort("timeout")
            return
        if state is IDLE:
            deadline = self._since + settings.keepalive_timeout
        elif state is HEAD:
            deadline = self._since + settings.header_timeout
        elif state is BODY:
            deadline = self._body_deadline()
        elif state is LINGER:
            deadline = self._since + LINGER_TIMEOUT
        else:
            return  # SERVING or CLOSED: nothing to time; entering a timed state re-arms
        if now < deadline:
            self._timer.schedule(deadline)
        elif state is IDLE or state is LINGER:
            self._close()
        else:
            what = "header section" if state is HEAD else "request body"
            self._on_parse_error(errors.RequestTimeout(f"The {what} did not arrive in time."))

    def _send_progress(self, now: float) -> None:
        """Note whether the client took anything since the last look (a resume of writing
        in between means it did: our buffer emptied)."""
        taken = self._taken()
        if self._send_fresh:
            self._send_fresh = False
        elif taken <= self._send_mark:
            return
        elif self._serving is not None:
            reading = max(0, taken - self._serving.body_at) / SEND_BATCH_RATE
            self._send_grace = min(reading, SEND_BATCH_CAP * self._settings.send_timeout)
        self._send_mark, self._send_since = taken, now

    def _taken(self) -> int:
        """Bytes the client has taken: those that left our buffer, less those still in the
        kernel's send queue (SIOCOUTQ). Our buffer alone is not enough: the kernel wakes a
        writer only when a good part of its send buffer (up to 4 MB) is free again, so a
        client reading steadily at a modest rate can leave our buffer unchanged for longer
        than the send timeout."""
        taken = self._handed_now()
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return taken
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                taken -= struct.unpack("i", queued)[0]
            except (OSError, ValueError):
                pass
        return taken

    def _body_deadline(self) -> float:
        """The longest stall (body_timeout since the last bytes), and Apache mod_reqtimeout's
        MinRate: from body_timeout on, the body must have averaged body_min_rate bytes/s, or
        one byte a second would hold the connection for ever (Traefik CVE-2024-28869)."""
        timeout, rate = self._settings.body_timeout, self._settings.body_min_rate
        stall = self._body_last + timeout
        if rate <= 0 or self._receiving is None or self._receiving.body is None:
            return stall
        received = self._receiving.body.received - self._body_base
        return min(stall, self._since + max(timeout, received / rate))


def _discard_unread(transport: asyncio.BaseTransport) -> None:
    """Read and drop what the client already sent: closing a socket with unread bytes sends
    a reset, and the client may lose our answer with it (RFC 9112 §9.6). Under a flood the
    request is often there before we accept the connection."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):  # BlockingIOError: nothing (more) to read
        for _ in range(16):
            if not os.read(sock.fileno(), 65536):
                break


class _ResponseWriter:
    """Writes an upstream's response to the client, re-framed if needed.

    Parts are collected and flushed once per batch of upstream events, so a small response
    (head and body arriving together) leaves in a single writev instead of one write each.
    """

    __slots__ = ("_chunked", "_conn", "_parts", "_tx")

    def __init__(self, conn: ClientConnection, tx: Transaction, chunked: bool, head: bytes) -> None:
        self._conn, self._tx, self._chunked = conn, tx, chunked
        self._parts = [head]

    def body(self, data: bytes) -> None:
        self._tx.bytes_sent += len(data)
        if self._chunked:
            self._parts += chunk(data)
        else:
            self._parts.append(data)

    def end(self) -> None:
        if self._chunked:
            self._parts.append(LAST_CHUNK)

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts:
            self._conn._write_parts(parts)
