"""Access-log lines (PROXY_ACCESS_LOG_FORMAT): `text` for people, `json` for log pipelines.

One line per request. `worker=`, `conn=` and `req=` make the worker and connection reuse
visible; `id=` is the X-Request-ID that the auth and content services log too.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TextIO

from proxy.transaction import Transaction


@dataclass(frozen=True, slots=True)
class Record:
    time: float  # Unix time the line is written
    worker: int
    client: str
    conn: int
    req: int
    request_id: str
    method: str
    target: str
    version: str
    status: int
    bytes: int
    ms: float
    user: str
    cache: str
    # Why the response did not complete (client, timeout, upstream, shutdown), or "": a line
    # must never pass for a complete transfer when it was not one (issue 9).
    aborted: str = ""


def timestamp(now: float) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-12-02T18:12:55.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def format_text(r: Record) -> str:
    request = f"{r.method} {r.target} HTTP/{r.version}" if r.method != "-" else "-"
    return (
        f"{timestamp(r.time)} {r.client} worker={r.worker} conn={r.conn} req={r.req} "
        f'id={r.request_id} "{request}" {r.status} {r.bytes} {r.ms:.1f}ms user={r.user} '
        f"cache={r.cache}{f' aborted={r.aborted}' if r.aborted else ''}\n"
    )


def format_json(r: Record) -> str:
    fields = {
        "time": timestamp(r.time),
        "worker": r.worker,
        "client": r.client,
        "conn": r.conn,
        "req": r.req,
        "request_id": r.request_id,
        "method": r.method,
        "target": r.target,
        "version": r.version,
        "status": r.status,
        "bytes": r.bytes,
        "ms": round(r.ms, 1),
        "user": r.user,
        "cache": r.cache,
        "aborted": r.aborted or None,
    }
    return json.dumps(fields, separators=(",", ":")) + "\n"


FORMATS = {"text": format_text, "json": format_json}


class AccessLog:
    """Writes each request's line to `out`."""

    def __init__(self, out: TextIO, format: str, worker: int) -> None:
        self._out = out
        self._format = FORMATS[format]
        self._worker = worker

    def write(self, tx: Transaction, client: bytes, conn: int, seconds: float) -> None:
        head = tx.head
        record = Record(
            time=time.time(),
            worker=self._worker,
            client=client.decode(),
            conn=conn,
            req=tx.number,
            request_id=tx.request_id.decode() or "-",
            method=head.method.decode() if head is not None else "-",
            target=head.target.decode("latin-1") if head is not None else "-",
            version=head.version.decode() if head is not None else "-",
            status=tx.status,
            bytes=tx.bytes_sent,
            ms=seconds * 1000,
            user=tx.user.decode("latin-1"),
            cache=tx.cache,
            aborted=tx.aborted,
        )
        self._out.write(self._format(record))
