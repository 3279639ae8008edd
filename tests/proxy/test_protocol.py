"""The client connection Protocol, driven without sockets: bytes in, bytes out.

A fake transport records what the proxy writes; a stub forwarder answers every request with
a tiny response (after reading its body), so these tests see only the connection's own logic:
ordering, keep-alive accounting, timers, flow control and error handling. Time is a fake
clock (`clock.FakeLoop`): a test moves it on with `advance` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

import httptools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy import errors
from proxy.config import Settings
from proxy.http1 import Limits
from proxy.protocol import LINGER_TIMEOUT, SEND_CHECKS, ClientConnection
from proxy.tally import Traffic
from tests.proxy.clock import FakeLoop, settle


class FakeTransport(asyncio.Transport):
    def __init__(self, protocol: ClientConnection) -> None:
        super().__init__()
        self.protocol = protocol
        self.data = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    buffered = 0  # what the proxy's write buffer holds
    kernel_full = False  # the kernel takes nothing: what is written stays in `buffered`
    # Whether it can close its sending side alone (TCP can, TLS cannot). Off by default: then
    # a connection closed after an error closes at once, as most tests here expect; the
    # lingering close has its own tests.
    half_close = False
    eof_written = False

    def can_write_eof(self):
        return self.half_close

    def write_eof(self):
        assert self.half_close
        self.eof_written = True

    def get_write_buffer_size(self):
        return self.buffered

    def write(self, data):
        assert not self.closed, "write after close"
        self.data += data
        if self.kernel_full:
            self.buffered += len(data)

    def writelines(self, parts):
        for part in parts:
            self.write(part)

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def is_closing(self):
        return self.closed

    def close(self):
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self):
        self.aborted = True
        self.close()


class StubForwarder:
    """Answers `ok` (or echoes the body length) after reading the whole body."""

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop

    async def forward(self, ex, client):
        size = 0
        if ex.body is not None:
            async for chunk in ex.body:
                size += len(chunk)
        if ex.head.path == b"/slow":
            await self.loop.sleep(0.05)
        if ex.head.path == b"/hang":  # a response whose upstream is held back for ever
            client.begin_response(
                ex, 200, [(b"Content-Length", b"100")], chunked=False, close=False
            ).flush()
            await asyncio.get_running_loop().create_future()
        if ex.head.path == b"/then-gone":  # answered whole, then the client resets at once
            sink = client.begin_response(
                ex, 200, [(b"Content-Length", b"5")], chunked=False, close=False
            )
            sink.body(b"hello")
            sink.end()
            sink.flush()
            client.transport.close()  # closing now; connection_lost comes on the next turn
            return
        if ex.head.path == b"/fail-midway":
            sink = client.begin_response(
                ex, 200, [(b"Content-Length", b"10")], chunked=False, close=False
            )
            sink.flush()  # the head is out; now the upstream fails
            raise errors.BadGateway()
        body = b"%d %s" % (size, ex.head.path)
        sink = client.begin_response(
            ex, 200, [(b"Content-Length", b"%d" % len(body))], chunked=False, close=False
        )
        sink.body(body)
        sink.end()
        sink.flush()


class StubLog:
    """What each request's access-log line would say."""

    def __init__(self) -> None:
        self.logged = []
        self.bytes_logged = []

    def write(self, tx, client, conn, seconds):
        self.logged.append((tx.status, tx.aborted))
        self.bytes_logged.append(tx.bytes_sent)


class StubServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = FakeLoop()
        self.forwarder = StubForwarder(self.loop)
        self.tracer = None
        self.shutting_down = False
        self.traffic = Traffic()
        self.access_log = StubLog()
        self.idle = {}

    def admit(self, conn):
        return True

    def connection_opened(self, conn):
        return 1

    def connection_closed(self, conn):
        pass


class Client:
    """A connection on a fake transport and a fake clock (made inside a running loop)."""

    def __init__(self, half_close: bool = False, **overrides) -> None:
        self.server = StubServer(Settings().replace(**overrides))
        self.clock = self.server.loop
        self.conn = ClientConnection(self.server)
        self.transport = FakeTransport(self.conn)
        self.transport.half_close = half_close
        self.conn.connection_made(self.transport)

    async def send(self, data: bytes) -> None:
        self.conn.data_received(data)
        await settle()

    async def wait(self, seconds: float) -> None:
        """Let `seconds` pass: the timers due fire, then what they woke runs."""
        self.clock.advance(seconds)
        await settle()

    async def wait_until(self, t: float) -> None:
        await self.wait(t - self.clock.now)

    @property
    def closed(self) -> bool:
        return self.transport.closed

    @property
    def statuses(self) -> list[int]:
        return parse_responses(bytes(self.transport.data))


def run(chunks: list[bytes], *, wait: float = 0.1, **overrides) -> tuple[FakeTransport, list[int]]:
    """Feed `chunks` to a fresh connection, let `wait` seconds pass, return transport and
    statuses."""

    async def scenario():
        client = Client(**overrides)
        for chunk in chunks:
            if client.closed:
                break
            await client.send(chunk)
        await client.wait(wait)
        if not client.closed:
            client.conn.connection_lost(None)
        return client.transport

    transport = asyncio.run(scenario())
    return transport, parse_responses(bytes(transport.data))


def parse_responses(data: bytes) -> list[int]:
    """Statuses of the complete, well-formed responses in `data` (fails on garbage)."""
    statuses: list[int] = []

    class Collector:
        def on_headers_complete(self):
            statuses.append(parser.get_status_code())

    parser = httptools.HttpResponseParser(Collector())
    parser.feed_data(data)
    return statuses


def request(path: str = "/", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def test_pipelined_requests_are_answered_in_order():
    transport, statuses = run([request("/slow") + request("/a") + request("/b")])
    assert statuses == [200, 200, 200]
    bodies = [b"0 /slow", b"0 /a", b"0 /b"]
    positions = [transport.data.index(body) for body in bodies]
    assert positions == sorted(positions)


def test_keep_alive_budget_ends_with_close():
    transport, statuses = run([request()] * 3, keepalive_max=3)
    assert statuses == [200, 200, 200]
    assert transport.data.count(b"Keep-Alive: timeout=5, max=") == 2
    assert transport.data.endswith(b"0 /") and b"Connection: close" in transport.data
    assert transport.closed


def test_bad_request_after_a_good_one_is_answered_in_order_then_closed():
    transport, statuses = run([request("/a") + b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"])
    assert statuses == [200, 400]
    assert transport.closed


def test_a_refused_request_closes_in_stages_and_drops_what_follows():
    # RFC 9112 §9.6: our side first, then what the client still sends is read and dropped,
    # so that its bytes are not answered with a reset that could destroy our 413.
    async def scenario():
        client = Client(half_close=True, limits=Limits(max_body_bytes=10))
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        answered = client.statuses, client.transport.eof_written, client.closed
        await client.send(b"x" * 1000)  # the rest of the body: dropped, not parsed
        await client.wait(LINGER_TIMEOUT - 0.1)
        lingering = client.statuses, client.transport.reading, client.closed
        await client.wait(0.2)
        return answered, lingering, client.closed

    answered, lingering, closed = asyncio.run(scenario())
    assert answered == ([413], True, False)
    assert lingering == ([413], True, False)
    assert closed


def test_lingering_ends_when_the_client_closes_its_side():
    async def scenario():
        client = Client(half_close=True)
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        before = client.statuses, client.closed
        client.conn.eof_received()  # None: the transport closes
        return before, client.conn.state.value

    assert asyncio.run(scenario()) == (([400], False), "linger")


def test_an_ordinary_close_does_not_linger():
    transport, statuses = run([request()], half_close=True, keepalive_max=1)
    assert statuses == [200] and transport.closed and not transport.eof_written


def test_failure_after_the_head_aborts_instead_of_a_second_status():
    transport, statuses = run([request("/fail-midway")])
    assert statuses == [200]
    assert transport.aborted
    assert b"502" not in transport.data


def test_idle_connection_closes_quietly():
    transport, statuses = run([request()], wait=0.15, keepalive_timeout=0.03)
    assert statuses == [200] and transport.closed and not transport.aborted


def test_body_buffer_pauses_reading_from_the_client():
    async def scenario():
        client = Client()
        # Two pipelined requests: the second waits, so reading pauses (bounded buffering).
        await client.send(request("/slow") + request("/b"))
        paused_while_queued = not client.transport.reading
        await client.wait(0.1)
        return paused_while_queued, client.transport.reading

    assert asyncio.run(scenario()) == (True, True)


# The timers, in fake time ------------------------------------------------------------------

POST = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"


@pytest.mark.parametrize(
    "writes",
    [
        pytest.param([request()] * 50, id="one-at-a-time"),
        pytest.param([request() * 50], id="pipelined"),
        pytest.param([POST] * 50, id="with-bodies"),
        pytest.param([b"GET / HTTP/1.1\r\n", b"Host: x\r\n\r\n"] * 50, id="heads-in-two-pieces"),
    ],
)
def test_a_busy_keep_alive_connection_arms_its_timer_once_not_per_request(writes):
    async def scenario():
        client = Client()
        for data in writes:
            await client.send(data)
            await client.wait(0.001)
        return client.statuses, client.clock.armed

    statuses, armed = asyncio.run(scenario())
    assert statuses == [200] * 50
    assert len(armed) <= 2


def test_an_idle_connection_closes_at_the_keep_alive_timeout_after_its_last_response():
    async def scenario():
        client = Client(keepalive_timeout=5.0)
        # A request a second, t = 0..4: the first response's idle deadline (t = 5) passes
        # with the connection open; the last one's (t = 9) closes it.
        for t in range(5):
            await client.wait_until(t)
            await client.send(request())
        await client.wait_until(4 + 5.0 - 0.01)
        open_before = not client.closed
        await client.wait_until(4 + 5.0 + 0.01)
        return client.statuses, open_before, client.closed, client.transport.aborted

    assert asyncio.run(scenario()) == ([200] * 5, True, True, False)


def test_header_deadline_counts_from_the_first_byte_and_is_not_reset_by_trickling():
    async def scenario():
        client = Client(header_timeout=10.0)
        await client.wait(3.0)  # connected at t=0; the head begins at t=3
        await client.send(b"GET / HTTP/1.1\r\n")
        for _ in range(9):  # then a field a second: bytes keep arriving until t=12
            await client.wait(1.0)
            await client.send(b"X: y\r\n")
        await client.wait_until(3 + 10.0 - 0.01)
        before = client.statuses, client.closed
        await client.wait_until(3 + 10.0 + 0.01)
        return before, client.statuses, client.closed

    assert asyncio.run(scenario()) == (([], False), [408], True)


@pytest.mark.parametrize(
    ("min_rate", "deadline"),
    [
        # No rate rule: body_timeout after the last bytes (at t=3).
        pytest.param(0, 3 + 10.0, id="stalled-after-its-last-bytes"),
        # 4 bytes in 10 s is far below 500 bytes/s: body_timeout after the body began.
        pytest.param(500, 10.0, id="too-slow-on-average"),
    ],
)
def test_a_stalled_body_gets_408_at_its_deadline(min_rate, deadline):
    async def scenario():
        client = Client(body_timeout=10.0, body_min_rate=min_rate)
        await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        await client.wait(3.0)
        await client.send(b"cd")  # and then nothing
        await client.wait_until(deadline - 0.01)
        before = client.statuses, client.closed
        await client.wait_until(deadline + 0.01)
        return before, client.statuses, client.closed

    assert asyncio.run(scenario()) == (([], False), [408], True)


VALID = [
    request("/"),
    b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(VALID), min_size=1, max_size=4))))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos]
    return bytes(data)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(), st.binary(max_size=300)), st.lists(st.integers(0, 400), max_size=6))
def test_fuzzed_input_gets_well_formed_answers_or_a_close(data, cuts):
    """Whatever arrives, the connection never raises; everything it writes parses as
    complete HTTP responses, and any error status is followed by closing."""
    unhandled: list[object] = []

    def handler(loop, context):
        unhandled.append(context)

    async def scenario():
        asyncio.get_running_loop().set_exception_handler(handler)
        conn = ClientConnection(StubServer(Settings().replace(limits=Limits(max_body_bytes=1000))))
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        for chunk in chunked(data, cuts):
            if transport.closed:
                break
            conn.data_received(chunk)
            await asyncio.sleep(0)
        await settle()
        return transport

    transport = asyncio.run(scenario())
    statuses = parse_responses(bytes(transport.data))
    assert not unhandled
    assert all(100 <= s <= 599 for s in statuses)
    if any(s >= 400 for s in statuses):
        assert statuses[-1] >= 400 and transport.closed


def trickle_body(piece: int, *, times: int, every: float, **overrides) -> list[int]:
    """POST a body in `times` pieces of `piece` bytes, `every` seconds apart; the statuses."""
    size = piece * times
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size

    async def scenario():
        client = Client(**overrides)
        await client.send(head)
        for _ in range(times):
            if client.closed:
                break
            await client.send(b"a" * piece)
            await client.wait(every)
        await client.wait(0.02)
        return client.statuses

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("piece", "times", "min_rate", "statuses"),
    [
        # 100 bytes/s in 1-byte pieces: no gap reaches the 0.1 s body timeout.
        pytest.param(1, 50, 500, [408], id="below-the-minimum-rate-though-it-never-stalls"),
        # 10,000 bytes/s for 0.3 s: well past the body timeout, and fast enough.
        pytest.param(100, 30, 500, [200], id="above-the-minimum-rate"),
        pytest.param(1, 30, 0, [200], id="minimum-rate-zero-keeps-only-the-stall-rule"),
    ],
)
def test_a_trickled_body_is_held_to_the_minimum_rate(piece, times, min_rate, statuses):
    overrides = {"body_timeout": 0.1, "body_min_rate": min_rate}
    assert trickle_body(piece, times=times, every=0.01, **overrides) == statuses


def test_send_deadline_counts_bytes_taken_not_time():
    """A client that keeps taking bytes, however slowly, keeps its response; one that takes
    nothing for the send timeout is cut, and its log line says so."""

    async def scenario():
        client = Client(send_timeout=0.05)
        client.transport.kernel_full = True
        await client.send(request("/hang"))
        client.conn.pause_writing()  # the response head stays in our buffer
        assert client.transport.buffered > 60
        for _ in range(30):  # 0.3 s, six send timeouts, taking 2 bytes every 0.01 s
            await client.wait(0.01)
            client.transport.buffered -= 2
        last_taken = client.clock.now
        still_open = not client.transport.aborted
        # Now it takes nothing. The connection checks every quarter send timeout: the last
        # bytes are noticed at the next check, and it is cut at the first check a whole
        # send timeout after that one.
        check = 0.05 / SEND_CHECKS
        await client.wait_until(last_taken + 0.05 - 0.001)
        open_a_send_timeout_on = not client.transport.aborted
        await client.wait_until(last_taken + check + 0.05 + check + 0.001)
        logged = client.server.access_log.logged
        return still_open, open_a_send_timeout_on, client.transport.aborted, logged

    assert asyncio.run(scenario()) == (True, True, True, [(200, "timeout")])


def test_a_response_handed_over_whole_counts_every_byte_though_the_client_left():
    """The kernel took the whole response, then the client reset before the line was
    written: the line still counts all the body, and it is no abort (issue 9's honest log)."""

    async def scenario():
        server = StubServer(Settings())
        conn = ClientConnection(server)
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        conn.data_received(request("/then-gone"))
        await settle()
        return server.access_log.logged, server.access_log.bytes_logged

    assert asyncio.run(scenario()) == ([(200, "")], [5])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
