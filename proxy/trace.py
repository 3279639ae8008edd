"""Trace mode (PROXY_TRACE=1): every request and response head as it crosses the proxy.

What a packet capture shows, readable in a terminal, with the connection id, the request's
number on its connection and the keep-alive budget left. Secrets are redacted: cookie values,
credentials, and anything that looks like a password in a query string.
"""

from __future__ import annotations

import re
from typing import TextIO

from proxy.headers import Headers

REDACTED = b"<redacted>"
_SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization"})
_COOKIE_VALUE = re.compile(rb"(=)[^;,]*")
_SECRET_QUERY = re.compile(rb"((?:^|[?&])(?:passwd|password|token|secret)=)[^&]*", re.IGNORECASE)


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


class Tracer:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def request(
        self, conn: int, number: int, method: bytes, target: bytes, version: bytes, headers: Headers
    ) -> None:
        lines = [b"%s %s HTTP/%s" % (method, redact_target(target), version)]
        self._emit(conn, number, b">", lines, headers)

    def response(
        self, conn: int, number: int, status: int, headers: Headers, remaining: int
    ) -> None:
        lines = [b"HTTP/1.1 %d  (keep-alive budget left: %d)" % (status, remaining)]
        self._emit(conn, number, b"<", lines, headers)

    def _emit(
        self, conn: int, number: int, arrow: bytes, lines: list[bytes], headers: Headers
    ) -> None:
        prefix = b"[conn %d #%d] %s " % (conn, number, arrow)
        lines += [b"%s: %s" % (name, redact(name, value)) for name, value in headers]
        text = b"".join(prefix + line + b"\n" for line in lines)
        self._out.write(text.decode("latin-1") + "\n")
