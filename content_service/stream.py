"""Streaming a large file with a known, small amount of memory per download.

Issue 9, item 5: a client that asked for a 20 MB file and stopped reading cost about
0.6 MB here. Two read-aheads added up: the next 256 KiB chunk was read before the
previous one had left the process, and uvicorn waits for the transport to drain only
at the start of the *next* send, so one chunk sat in the transport while the next
waited in `send`. Now a download holds at most one chunk:

- the transport pauses as soon as anything is left unsent (high-water mark 0, set in
  `__main__`), so the kernel's socket buffers are the only queue;
- before reading the next chunk, an empty body message waits for that pause to end.

Reading stays fast without a thread hop per chunk: a chunk the page cache holds is
read on the event loop with preadv2's RWF_NOWAIT, which never waits for the disk;
only a chunk that must come from the disk goes to a worker thread. Each such chunk
yields to the loop once, so a fast download does not starve other connections.
"""

from __future__ import annotations

import asyncio
import errno
import os

from starlette.types import Message, Receive, Send

from content_service.logs import log
from content_service.metrics import Metrics

# What one download may hold in the process while its client reads nothing.
CHUNK = 64 * 1024

_NOWAIT = getattr(os, "RWF_NOWAIT", 0)  # Linux 4.14+; elsewhere every read is threaded
_WAIT_WRITABLE: Message = {"type": "http.response.body", "body": b"", "more_body": True}


def read_cached(fd: int, offset: int, size: int) -> bytearray | None:
    """Up to `size` bytes at `offset` if the page cache has them; None if the disk must."""
    if not _NOWAIT:
        return None
    buf = bytearray(size)
    try:
        n = os.preadv(fd, [buf], offset, _NOWAIT)
    except BlockingIOError:
        return None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a filesystem without it
            return None
        raise
    if n == 0:  # nothing cached, or the end of the file: the blocking read tells which
        return None
    del buf[n:]
    return buf


async def stream_file(
    fd: int, offset: int, length: int, send: Send, receive: Receive, metrics: Metrics
) -> None:
    """Send `length` bytes of `fd` from `offset`, holding at most one chunk at a time.

    uvicorn silently drops what is sent after the client went away, so a watcher task
    notices `http.disconnect` and the loop stops reading the rest of a big file for
    nobody.
    """
    gone = asyncio.Event()

    async def watch() -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return

    watcher = asyncio.ensure_future(watch())
    loop = asyncio.get_running_loop()
    try:
        remaining = length
        while remaining > 0:
            await send(_WAIT_WRITABLE)
            if gone.is_set():
                log.info("client went away after %d of %d bytes", length - remaining, length)
                return
            size = min(CHUNK, remaining)
            chunk: bytes | bytearray | None = read_cached(fd, offset, size)
            if chunk is None:
                chunk = await loop.run_in_executor(None, os.pread, fd, size, offset)
            else:
                # Neither that read nor a send that fits the socket buffer yields, so
                # let the other connections, and the disconnect watcher, have a turn.
                await asyncio.sleep(0)
            if not chunk:
                # The file shrank under us; Content-Length can no longer be
                # honoured, and raising makes the server drop the connection
                # rather than leave the client waiting.
                raise RuntimeError("file shorter than its Content-Length")
            offset += len(chunk)
            remaining -= len(chunk)
            metrics.sent_bytes += len(chunk)
            # uvicorn writes any bytes-like body as it is; a fresh buffer per chunk
            # means nothing here can change bytes the transport still holds.
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            del chunk  # the transport keeps what it still needs; we keep nothing
        if length == 0:
            await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
