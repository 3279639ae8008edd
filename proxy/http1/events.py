"""What the HTTP/1.1 parsers produce: message heads, body chunks, the end, and limits."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Limits:
    max_request_line: int = 8192
    max_header_bytes: int = 8192
    max_header_count: int = 100
    max_body_bytes: int = 64 * 1024 * 1024


class Framing(enum.Enum):
    """How a message body is delimited (RFC 9112 §6.3)."""

    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"  # responses only: the body ends when the connection closes


# In Python 3.11 every `Framing.X` is looked up through EnumType.__getattr__, a hook written
# in Python (about 900 instructions a lookup, measured with callgrind; 3.12 dropped it). The
# hot paths compare with these names instead, looked up once.
NO_BODY: Final = Framing.NONE
BY_LENGTH: Final = Framing.LENGTH
CHUNKED: Final = Framing.CHUNKED
TO_CLOSE: Final = Framing.CLOSE


# The hot classes below write out their __init__ (dataclass(init=False)): mypyc compiles a
# written one, while the one dataclass generates is made at run time and interpreted, which
# cost about 5,000 instructions per object (proxy/compiled.py).


@dataclass(init=False)
class RequestHead:
    """A parsed request head; field names are lower-cased (as h11 does)."""

    method: bytes
    target: bytes
    version: bytes  # b"1.0" or b"1.1"
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    framing: Framing
    content_length: int | None
    expect_continue: bool
    host: bytes
    connection: frozenset[bytes]  # the options `Connection` lists
    cookie: bytes | None  # all Cookie fields as one value

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        framing: Framing,
        content_length: int | None = None,
        expect_continue: bool = False,
        host: bytes = b"",
        connection: frozenset[bytes] = frozenset(),
        cookie: bytes | None = None,
    ) -> None:
        self.method, self.target, self.version = method, target, version
        self.headers, self.keep_alive, self.framing = headers, keep_alive, framing
        self.content_length, self.expect_continue = content_length, expect_continue
        self.host, self.connection, self.cookie = host, connection, cookie

    @property
    def path(self) -> bytes:
        return self.target.partition(b"?")[0]


@dataclass(init=False)
class ResponseHead:
    status: int
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    framing: Framing
    content_length: int | None
    connection: frozenset[bytes]

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        framing: Framing,
        content_length: int | None = None,
        connection: frozenset[bytes] = frozenset(),
    ) -> None:
        self.status, self.headers, self.keep_alive = status, headers, keep_alive
        self.framing, self.content_length, self.connection = framing, content_length, connection


@dataclass(init=False)
class Body:
    data: bytes

    def __init__(self, data: bytes) -> None:
        self.data = data


class BrokenResponse(Exception):
    """The upstream's bytes are not a valid response to the request sent (the proxy maps
    this to 502 Bad Gateway)."""


class ProtocolError(Exception):
    """A client's bytes that are not a request this layer accepts. It ends the events: the
    framing can no longer be trusted (RFC 9112 §9.6). Each kind below names a problem; the
    proxy chooses the answer (`errors.from_protocol`), as h11 leaves the status to its
    caller."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedRequest(ProtocolError):
    """Not a valid HTTP/1.x request (RFC 9112), or fields against RFC 9110's rules."""


class TargetTooLong(ProtocolError):
    """The request target is over the limit."""


class HeadTooLarge(ProtocolError):
    """The header (or trailer) section is over the limits."""


class BodyTooLarge(ProtocolError):
    """The body is, or is announced to be, over the limit."""


class UnsupportedVersion(ProtocolError):
    """An HTTP version other than 1.0 and 1.1."""


class UnsupportedFeature(ProtocolError):
    """Valid HTTP this layer does not do: CONNECT, transfer codings other than chunked."""


class UnknownExpectation(ProtocolError):
    """An `Expect` other than 100-continue (RFC 9110 §10.1.1)."""


class EndOfMessage:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfMessage()

RequestEvent = RequestHead | Body | EndOfMessage | ProtocolError
ResponseEvent = ResponseHead | Body | EndOfMessage | BrokenResponse
