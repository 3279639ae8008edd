"""Trace mode (PROXY_TRACE=1): every head on every hop of a request, as it crosses the wire.

For each request, in order, each block headed by the connection, the request's number on it,
and the hop:

    client -> proxy            the request as the client sent it
    proxy -> auth /verify      the session question (or: answered from the verdict cache)
    auth -> proxy /verify      its answer
    proxy -> content           the request as it leaves, with X-Forwarded-* (or -> auth)
    content -> proxy           the upstream's response head
    proxy: answered from the response cache   (instead of the two above, or after a 304)
    proxy -> client            the response as sent, with the keep-alive budget left

The request parser lower-cases field names; to show the client's names as sent, the tracer
runs a second llhttp parser over the raw bytes, only in trace mode. Upstream response heads are
shown as parsed: names lower-case (as uvicorn sends them) and the status's standard reason
phrase. Secrets are redacted: cookie values, credentials, the internal token, and anything
that looks like a password in a query string.
"""

from __future__ import annotations

import contextvars
import re
from typing import TextIO

import httptools

from proxy.http1 import ResponseHead
from proxy.http1.headers import Headers
from proxy.http1.writer import encode_response_head

REDACTED = b"<redacted>"
_SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"x-gatehouse-token"})
_COOKIE_VALUE = re.compile(rb"(=)[^;,]*")
_SECRET_QUERY = re.compile(rb"((?:^|[?&])(?:passwd|password|token|secret)=)[^&]*", re.IGNORECASE)

# The request being served in this task: (tracer, its label). Set only in trace mode, so the
# hooks in forward.py and access.py cost one lookup otherwise.
_current: contextvars.ContextVar[tuple[Tracer, str] | None] = contextvars.ContextVar(
    "gatehouse_trace", default=None
)


def redact(name: bytes, value: bytes) -> bytes:
    lname = name.lower()
    if lname in _SECRET_HEADERS:
        return REDACTED
    if lname == b"cookie":
        return _COOKIE_VALUE.sub(rb"\1" + REDACTED, value)
    if lname == b"set-cookie":
        cookie, sep, attributes = value.partition(b";")
        return _COOKIE_VALUE.sub(rb"\1" + REDACTED, cookie, count=1) + sep + attributes
    return value


def redact_target(target: bytes) -> bytes:
    return _SECRET_QUERY.sub(rb"\1" + REDACTED, target)


def redact_head(head: bytes) -> list[str]:
    """The lines of an encoded head, secrets redacted."""
    start, *fields = head.rstrip(b"\r\n").split(b"\r\n")
    method, sp, rest = start.partition(b" ")
    if not start.startswith(b"HTTP/"):  # a request line: the target may hold a password
        target, sp2, version = rest.rpartition(b" ")
        start = method + sp + redact_target(target) + sp2 + version
    lines = [start]
    for field in fields:
        name, colon, value = field.partition(b":")
        lines.append(name + colon + b" " + redact(name, value.strip(b" \t")))
    return [line.decode("latin-1") for line in lines]


# Whether a tracer was made (trace mode). The hooks run on every request: outside trace mode
# they read this global and stop, cheaper than asking the context variable (~400
# instructions a hook, callgrind).
_tracing = False


class Tracer:
    def __init__(self, out: TextIO) -> None:
        global _tracing
        _tracing = True
        self._out = out
        self._clients: dict[int, _ClientHeads] = {}  # by connection id, while open

    def client_bytes(self, conn_id: int, data: bytes) -> None:
        """Hook: every byte a client sends; its request heads are traced as sent."""
        heads = self._clients.get(conn_id)
        if heads is None:
            heads = self._clients[conn_id] = _ClientHeads(self, conn_id)
        heads.feed(data)

    def client_closed(self, conn_id: int) -> None:
        """Hook: the connection is gone, and with it its parser."""
        self._clients.pop(conn_id, None)

    def serving(self, conn_id: int, number: int) -> None:
        """Hook: the task serving this request; what it asks upstream is traced under it."""
        _current.set((self, f"[conn {conn_id} #{number}]"))

    def response(self, conn_id: int, number: int, head: bytes, remaining: int) -> None:
        """Hook: a response head as it goes to the client."""
        hop = f"proxy -> client  (keep-alive budget left: {remaining})"
        self.emit(f"[conn {conn_id} #{number}]", hop, head)

    def emit(self, label: str, hop: str, head: bytes | None = None) -> None:
        lines = [f"{label} {hop}"]
        if head is not None:
            lines += ["    " + line for line in redact_head(head)]
        self._out.write("\n".join(lines) + "\n\n")


def _emit(hop: str, head: bytes | None = None) -> None:
    current = _current.get()
    if current is not None:
        current[0].emit(current[1], hop, head)


# Hooks for the pipeline (forward.py) and the access check (access.py): each traces under
# the request this task is serving, and does nothing outside trace mode.


def upstream_request(upstream: str, head: bytes) -> None:
    if _tracing and _current.get() is not None:
        _emit(f"proxy -> {upstream}", head)


def upstream_response(upstream: str, response: ResponseHead) -> None:
    # Checked first: outside trace mode these run on every request and must cost nothing.
    if _tracing and _current.get() is not None:
        _emit(f"{upstream} -> proxy", encode_response_head(response.status, response.headers))


def verify_request(head: bytes) -> None:
    if _tracing and _current.get() is not None:
        _emit("proxy -> auth /verify", head)


def verify_response(response: ResponseHead) -> None:
    if _tracing and _current.get() is not None:
        _emit("auth -> proxy /verify", encode_response_head(response.status, response.headers))


def verify_cached(user: bytes) -> None:
    if _tracing and _current.get() is not None:
        _emit(
            f"proxy -> auth /verify: not asked, answered from the verdict cache ({user.decode()})"
        )


def response_cache_hit() -> None:
    if _tracing and _current.get() is not None:
        _emit("proxy: answered from the response cache")


class _ClientHeads:
    """llhttp over a client's raw bytes, for the request heads exactly as sent."""

    def __init__(self, tracer: Tracer, conn_id: int) -> None:
        self._tracer = tracer
        self._conn_id = conn_id
        self._parser = httptools.HttpRequestParser(self)
        self._number = 0
        self._target = b""
        self._headers: Headers = []
        self._failed = False

    def feed(self, data: bytes) -> None:
        if self._failed:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._failed = True  # the proxy's own parser answers it; nothing more to trace

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._target = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._number += 1
        start = b"%s %s HTTP/%s\r\n" % (
            self._parser.get_method(),
            self._target,
            self._parser.get_http_version().encode(),
        )
        head = start + b"".join(b"%s: %s\r\n" % pair for pair in self._headers)
        self._tracer.emit(f"[conn {self._conn_id} #{self._number}]", "client -> proxy", head)
