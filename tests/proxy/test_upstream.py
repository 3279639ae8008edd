"""Upstream connections and their pool, driven without sockets."""

from __future__ import annotations

import asyncio

from proxy import errors
from proxy.config import Address
from proxy.upstream import Exchange, Pool, UpstreamConnection


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


def pool(read_timeout: float = 5.0) -> Pool:
    return Pool(
        Address("127.0.0.1", 1),
        connect_timeout=1,
        read_timeout=read_timeout,
        idle_timeout=4,
        max_idle=10,
    )


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


def relaying(read_timeout: float, *, paused: bool, wait: float):
    """Relay a response whose body stops after 2 of 4 bytes; is it cut within `wait`?"""

    async def scenario():
        p = pool(read_timeout=read_timeout)
        conn, _ = connection(p)
        exchange = await answered(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
        done = exchange.relay(Collect())
        assert done is not None
        if paused:
            conn.pause_reading()
        try:
            await asyncio.wait_for(asyncio.shield(done), wait)
        except errors.GatewayTimeout:
            return "504"
        except TimeoutError:
            conn.abort()
            return "still relaying"
        return "done"

    return asyncio.run(scenario())


def test_a_silent_upstream_is_cut_after_the_read_timeout():
    assert relaying(0.05, paused=False, wait=1) == "504"


def test_an_upstream_we_paused_for_a_slow_client_is_not_silent():
    # The client side's send deadline decides about a client that stops reading (issue 9).
    assert relaying(0.05, paused=True, wait=0.3) == "still relaying"


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
