"""Upstream connections and their pool, driven without sockets, on a fake clock: a test
moves `pool.loop` on with `advance` instead of sleeping."""

from __future__ import annotations

import asyncio

import pytest

from proxy import errors
from proxy.config import Address
from proxy.upstream import Exchange, Pool, UpstreamConnection
from tests.proxy.clock import FakeLoop


class FakeTransport:
    def __init__(self) -> None:
        self.sent = bytearray()
        self.reading = True
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent += data

    def writelines(self, parts) -> None:
        for part in parts:
            self.write(part)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    def body(self, data: bytes) -> None:
        self.data += data

    def end(self) -> None:
        pass

    def flush(self) -> None:
        pass


def pool(read_timeout: float = 5.0, idle_timeout: float = 4.0) -> Pool:
    """A pool whose connections run on a fake clock, `pool.loop` (made in a running loop)."""
    p = Pool(
        Address("127.0.0.1", 1),
        connect_timeout=1,
        read_timeout=read_timeout,
        idle_timeout=idle_timeout,
        max_idle=10,
    )
    p.loop = FakeLoop(p.loop)
    return p


def connection(p: Pool) -> tuple[UpstreamConnection, FakeTransport]:
    conn = UpstreamConnection(p)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


async def answered(conn: UpstreamConnection, response: bytes) -> Exchange:
    """Send a GET on `conn`, feed it `response`, and return the exchange with its head."""
    exchange = conn.begin(b"GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.data_received(response)
    await exchange.response
    return exchange


def test_a_connection_paused_for_a_slow_client_reads_again_once_pooled():
    async def scenario():
        p = pool()
        conn, transport = connection(p)
        exchange = await answered(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
        sink = Collect()
        done = exchange.relay(sink)
        conn.pause_reading()  # the client's buffer filled up with the last bytes
        conn.data_received(b"cd")
        await done
        p.release(conn)
        return exchange.head.status, bytes(sink.data), transport.reading, p.idle_count

    assert asyncio.run(scenario()) == (200, b"abcd", True, 1)


async def relaying(p: Pool) -> tuple[UpstreamConnection, FakeTransport, asyncio.Future[None]]:
    """A connection relaying a response whose body stopped after 2 of its 4 bytes (at t=0);
    the future resolves once the body is all there."""
    conn, transport = connection(p)
    exchange = await answered(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    done = exchange.relay(Collect())
    assert done is not None
    return conn, transport, done


def cut(done: asyncio.Future[None]) -> bool:
    """Whether the exchange failed for a silent upstream (answered with 504)."""
    return done.done() and isinstance(done.exception(), errors.GatewayTimeout)


def test_a_silent_upstream_is_cut_at_the_read_timeout_after_its_last_byte():
    async def scenario():
        p = pool(read_timeout=5.0)
        conn, transport, done = await relaying(p)
        p.loop.advance(3.0)
        conn.data_received(b"c")  # the last byte, at t=3
        p.loop.advance(5.0 - 0.01)
        before = done.done(), transport.closed
        p.loop.advance(0.02)
        return before, cut(done), transport.closed

    assert asyncio.run(scenario()) == ((False, False), True, True)


@pytest.mark.parametrize("every", [0.01, 2.5, 4.99], ids=lambda every: f"a-byte-every-{every}s")
def test_an_upstream_that_keeps_sending_is_not_cut(every):
    async def scenario():
        p = pool(read_timeout=5.0)
        conn, transport = connection(p)
        exchange = await answered(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        sink = Collect()
        done = exchange.relay(sink)
        for _ in range(100):
            p.loop.advance(every)
            conn.data_received(b"x")
        await done
        return bytes(sink.data), exchange.error, transport.closed

    assert asyncio.run(scenario()) == (b"x" * 100, None, False)


def test_a_busy_connection_arms_its_timer_per_read_timeout_not_per_read():
    async def scenario():
        p = pool(read_timeout=5.0)
        conn, _ = connection(p)
        exchange = await answered(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        done = exchange.relay(Collect())
        for _ in range(1000):  # a byte every 10 ms: 10 s, two read timeouts
            p.loop.advance(0.01)
            conn.data_received(b"x")
        await done
        return p.loop.armed

    # One at the start, then one each time it fires (about once a read timeout).
    assert len(asyncio.run(scenario())) <= 10 / 5.0 + 1


def test_an_upstream_we_paused_for_a_slow_client_is_not_silent():
    # The client side's send deadline decides about a client that stops reading (issue 9);
    # once it reads again, the read timeout runs from then.
    async def scenario():
        p = pool(read_timeout=5.0)
        conn, transport, done = await relaying(p)
        conn.pause_reading()
        p.loop.advance(48.0)  # nearly ten read timeouts
        paused_through = done.done(), transport.closed
        conn.resume_reading()  # at t=48
        p.loop.advance(5.0 - 0.01)
        before = done.done()
        p.loop.advance(0.02)
        return paused_through, before, cut(done)

    assert asyncio.run(scenario()) == ((False, False), False, True)


def test_a_pooled_connection_closes_at_the_idle_timeout_after_it_was_parked():
    async def scenario():
        p = pool(idle_timeout=4.0)
        conn, transport = connection(p)
        exchange = await answered(conn, b"HTTP/1.1 204 No Content\r\n\r\n")
        assert exchange.relay(Collect()) is None  # complete with its head, at t=0
        p.loop.advance(3.0)
        p.release(conn)  # parked at t=3
        p.loop.advance(4.0 - 0.01)
        before = transport.closed, p.idle_count
        p.loop.advance(0.02)
        return before, transport.closed, p.take()

    assert asyncio.run(scenario()) == ((False, 1), True, None)


def test_bytes_arriving_on_a_pooled_connection_retire_it():
    async def scenario():
        p = pool()
        conn, transport = connection(p)
        exchange = await answered(conn, b"HTTP/1.1 204 No Content\r\n\r\n")
        assert exchange.relay(Collect()) is None  # complete with its head
        p.release(conn)
        conn.data_received(b"HTTP/1.1 200 OK\r\n")  # nobody asked
        return transport.closed, conn.closed

    assert asyncio.run(scenario()) == (True, True)
