"""A bounded keep-alive load for the replica tests: C connections, N requests in all.

Counts statuses and cut requests (the connection failed before the whole response came);
`at` calls a function once, when that many requests are done (to kill a replica mid-run).
"""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection: *close", re.IGNORECASE)


@dataclass
class Result:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    cut: int = 0
    done: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


async def _run(
    port: int,
    path: str,
    *,
    connections: int,
    total: int,
    cookie: str | None,
    at: tuple[int, Callable[[], None]] | None,
) -> Result:
    result = Result()
    claimed = 0
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()

    async def one_connection() -> None:
        nonlocal claimed
        reader = writer = None
        while claimed < total:
            claimed += 1
            try:
                async with asyncio.timeout(10):
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    assert reader is not None
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = _LENGTH.search(head)
                    await reader.readexactly(int(length.group(1)) if length else 0)
                    result.statuses[int(head[9:12])] += 1
                    if _CLOSE.search(head):
                        writer.close()
                        writer = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                result.cut += 1
                if writer is not None:
                    writer.close()
                writer = None
            result.done += 1
            if at is not None and result.done == at[0]:
                at[1]()
        if writer is not None:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return result


def load(
    port: int,
    path: str,
    *,
    connections: int = 16,
    total: int = 600,
    cookie: str | None = None,
    at: tuple[int, Callable[[], None]] | None = None,
) -> Result:
    return asyncio.run(_run(port, path, connections=connections, total=total, cookie=cookie, at=at))
