"""Scenario 5's client: open many keep-alive connections, hold them, check each still answers.

Each connection sends one `GET` when it opens (so it is a real keep-alive connection, not
just an accepted socket) and another one after the hold; both must be answered with 200.
Every network step has a timeout, so a stuck server cannot stall the bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

OPEN_CONCURRENCY = 200
STEP_TIMEOUT = 15.0


class HoldError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass
class HoldReport:
    target: int
    opened: int = 0  # connected and answered the first request
    still_answering: int = 0  # answered again after the hold
    open_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def fail(self, exc: BaseException) -> None:
        kind = exc.kind if isinstance(exc, HoldError) else type(exc).__name__
        self.errors[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(str(exc) or kind)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "opened": self.opened,
            "still_answering": self.still_answering,
            "open_seconds": round(self.open_seconds, 2),
            "errors": dict(self.errors),
            "error_count": self.error_count,
            "error_samples": self.samples,
        }


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, request: bytes) -> None:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "200":
            raise HoldError("status", status_line)
        fields = {}
        for line in lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip().lower()
        if "content-length" in fields:
            await self.reader.readexactly(int(fields["content-length"]))
        elif "chunked" in fields.get("transfer-encoding", ""):
            await self._read_chunked()
        else:
            raise HoldError("framing", "response without Content-Length or chunked body")
        if fields.get("connection") == "close":
            raise HoldError("closed", "server sent Connection: close")

    async def _read_chunked(self) -> None:
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await self.reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def _timed(coro: object, what: str) -> object:
    try:
        return await asyncio.wait_for(coro, STEP_TIMEOUT)  # type: ignore[arg-type]
    except TimeoutError:
        raise HoldError("timeout", what) from None
    except asyncio.IncompleteReadError:
        raise HoldError("closed", f"{what}: connection closed by the server") from None
    except ConnectionError as exc:
        raise HoldError("reset", f"{what}: {exc}") from None


async def hold_while(
    port: int,
    count: int,
    path: str,
    during: Callable[[], T],
    *,
    after_open: Callable[[], object] | None = None,
) -> tuple[HoldReport, T]:
    """Open `count` connections, run `during()` in a thread while holding them, recheck."""
    report = HoldReport(target=count)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    conns: list[_Conn] = []
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def open_one() -> None:
        async with gate:
            try:
                reader, writer = await _timed(  # type: ignore[misc]
                    asyncio.open_connection("127.0.0.1", port), "connect"
                )
            except (HoldError, OSError) as exc:
                report.fail(exc if isinstance(exc, HoldError) else HoldError("connect", str(exc)))
                return
            conn = _Conn(reader, writer)
            try:
                await _timed(conn.ask(request), "first request")
            except (HoldError, OSError, ValueError) as exc:
                report.fail(exc)
                conn.close()
                return
            conns.append(conn)

    async def recheck(conn: _Conn) -> None:
        async with gate:
            try:
                await _timed(conn.ask(request), "request after the hold")
            except (HoldError, OSError, ValueError) as exc:
                report.fail(exc)
                return
            report.still_answering += 1

    started = time.monotonic()
    try:
        await asyncio.gather(*(open_one() for _ in range(count)))
        report.opened = len(conns)
        report.open_seconds = time.monotonic() - started
        if after_open is not None:
            after_open()
        result = await asyncio.to_thread(during)
        await asyncio.gather(*(recheck(conn) for conn in conns))
    finally:
        for conn in conns:
            conn.close()
        await asyncio.sleep(0)
    return report, result
