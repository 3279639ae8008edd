"""Small helpers for the sans-IO parser tests: build raw messages, feed them, summarise events."""

from __future__ import annotations

from proxy import errors
from proxy.http1 import (
    END,
    Body,
    BrokenResponse,
    Limits,
    ProtocolError,
    RequestHead,
    RequestParser,
    ResponseHead,
)

CRLF = b"\r\n"


def message(*lines: bytes, body: bytes = b"") -> bytes:
    """A start line and header lines joined with CRLF, the empty line, then `body`."""
    return CRLF.join(lines) + CRLF + CRLF + body


def post(*fields: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    """`POST / <version>` with `Host: a` (on 1.1) and the given fields."""
    host = (b"Host: a",) if version == b"HTTP/1.1" else ()
    return message(b"POST / " + version, *host, *fields, body=body)


def get(target: bytes = b"/", *fields: bytes) -> bytes:
    return message(b"GET " + target + b" HTTP/1.1", b"Host: a", *fields)


def chunked(body: bytes, *fields: bytes) -> bytes:
    """A chunked POST whose (raw, possibly broken) chunked body is `body`."""
    return post(b"Transfer-Encoding: chunked", *fields, body=body)


DEFAULT_LIMITS = Limits()


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS, *, step: int | None = None) -> list:
    """All events for `data`, fed at once or in pieces of `step` bytes."""
    parser = RequestParser(limits)
    if step is None:
        return parser.feed(data)
    events: list = []
    for i in range(0, len(data), step):
        events += parser.feed(data[i : i + step])
    return events


def kinds(events: list) -> list:
    """A readable summary: "head", "body", "end", or the status of an error."""
    out: list = []
    for event in events:
        if isinstance(event, RequestHead | ResponseHead):
            out.append("head")
        elif isinstance(event, Body):
            out.append("body")
        elif event is END:
            out.append("end")
        elif isinstance(event, ProtocolError):
            out.append(errors.from_protocol(event).status)  # the status the proxy answers
        elif isinstance(event, BrokenResponse):
            out.append("broken")
        else:  # pragma: no cover - would be a bug in the parser
            out.append(repr(event))
    return out


def heads(events: list) -> list:
    return [e for e in events if isinstance(e, RequestHead | ResponseHead)]


def body_of(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Body))


def normalise(events: list) -> list:
    """Events with adjacent Body events merged and errors reduced to (kind, status), so that
    two feeds of the same bytes in different pieces can be compared."""
    out: list = []
    for event in events:
        if isinstance(event, Body):
            if out and isinstance(out[-1], Body):
                out[-1] = Body(out[-1].data + event.data)
            else:
                out.append(Body(event.data))
        elif isinstance(event, ProtocolError):
            out.append((type(event).__name__, errors.from_protocol(event).status))
        elif isinstance(event, RequestHead):
            out.append(
                (
                    event.method,
                    event.target,
                    event.version,
                    tuple(event.headers),
                    event.keep_alive,
                    event.framing,
                    event.content_length,
                    event.expect_continue,
                    event.host,
                )
            )
        else:
            out.append(event)
    return out
