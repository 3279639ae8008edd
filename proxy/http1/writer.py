"""Writing HTTP/1.1 messages: heads as one bytes object each, and chunked framing. Both
directions use these: the client's responses and the upstream's requests."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from proxy.http1.headers import Headers

LAST_CHUNK: Final = b"0\r\n\r\n"  # no trailer fields (RFC 9112 §7.1)


def chunk(data: bytes) -> tuple[bytes, bytes, bytes]:
    """One chunk of a chunked body (RFC 9112 §7.1), as parts for one writev."""
    return b"%x\r\n" % len(data), data, b"\r\n"


def _fields(headers: Headers) -> bytes:
    """The field lines, each ending in CRLF."""
    return b"".join([b"%s: %s\r\n" % (name, value) for name, value in headers])


def encode_request_head(method: bytes, target: bytes, headers: Headers) -> bytes:
    return b"%s %s HTTP/1.1\r\n%s\r\n" % (method, target, _fields(headers))


_REASONS: Final = {int(s): s.phrase.encode() for s in HTTPStatus}


def encode_response_head(status: int, headers: Headers) -> bytes:
    """A whole response head as one bytes object, so it goes out in one write."""
    return b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, _REASONS.get(status, b""), _fields(headers))
