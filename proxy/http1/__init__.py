"""HTTP/1.1 message parsing without I/O: bytes in, events out (in the style of h11)."""

from proxy.http1.events import (
    BY_LENGTH,
    CHUNKED,
    END,
    NO_BODY,
    TO_CLOSE,
    Body,
    BrokenResponse,
    EndOfMessage,
    Framing,
    Limits,
    RequestEvent,
    RequestHead,
    ResponseEvent,
    ResponseHead,
)
from proxy.http1.request import ExpectationFailed, RequestParser
from proxy.http1.response import ResponseParser

__all__ = [
    "BY_LENGTH",
    "CHUNKED",
    "END",
    "NO_BODY",
    "TO_CLOSE",
    "Body",
    "BrokenResponse",
    "EndOfMessage",
    "ExpectationFailed",
    "Framing",
    "Limits",
    "RequestEvent",
    "RequestHead",
    "RequestParser",
    "ResponseEvent",
    "ResponseHead",
    "ResponseParser",
]
