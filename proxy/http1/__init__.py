"""HTTP/1.1 message parsing without I/O: bytes in, events out (in the style of h11)."""

from proxy import compiled

compiled.use(__path__, __name__)  # before the imports below: they may be the compiled ones

from proxy.http1.events import (  # noqa: E402
    BY_LENGTH,
    CHUNKED,
    END,
    NO_BODY,
    TO_CLOSE,
    Body,
    BodyTooLarge,
    BrokenResponse,
    EndOfMessage,
    Framing,
    HeadTooLarge,
    Limits,
    MalformedRequest,
    ProtocolError,
    RequestEvent,
    RequestHead,
    ResponseEvent,
    ResponseHead,
    TargetTooLong,
    UnknownExpectation,
    UnsupportedFeature,
    UnsupportedVersion,
)
from proxy.http1.request import RequestParser  # noqa: E402
from proxy.http1.response import ResponseParser  # noqa: E402

__all__ = [
    "BY_LENGTH",
    "CHUNKED",
    "END",
    "NO_BODY",
    "TO_CLOSE",
    "Body",
    "BodyTooLarge",
    "BrokenResponse",
    "EndOfMessage",
    "Framing",
    "HeadTooLarge",
    "Limits",
    "MalformedRequest",
    "ProtocolError",
    "RequestEvent",
    "RequestHead",
    "RequestParser",
    "ResponseEvent",
    "ResponseHead",
    "ResponseParser",
    "TargetTooLong",
    "UnknownExpectation",
    "UnsupportedFeature",
    "UnsupportedVersion",
]
