"""Parsing what an upstream sends: bytes in, `ResponseHead`/`Body`/`END` events out, and a
`BrokenResponse` event when the bytes are not a valid response (the proxy answers 502)."""

from __future__ import annotations

import enum
from typing import Final

import httptools

from proxy.http1.events import (
    BY_LENGTH,
    CHUNKED,
    END,
    NO_BODY,
    TO_CLOSE,
    Body,
    BrokenResponse,
    Framing,
    ResponseEvent,
    ResponseHead,
)
from proxy.http1.headers import connection_options


class _State(enum.Enum):
    HEAD = "head"  # waiting for (the rest of) the head; interim 1xx heads are skipped
    BODY = "body"  # llhttp frames the body (chunked, or until the connection closes)
    COUNTED = "counted"  # a Content-Length body, counted here (see _feed_counted)
    COMPLETE = "complete"  # the whole response is here; any further byte is an error
    BROKEN = "broken"  # an error was reported; the connection is being dropped


# Looked up once (see events.NO_BODY for why).
_HEAD: Final = _State.HEAD
_BODY: Final = _State.BODY
_COUNTED: Final = _State.COUNTED
_COMPLETE: Final = _State.COMPLETE
_BROKEN: Final = _State.BROKEN

# The response fields on_headers_complete reads; every other field passes through untouched.
_FRAMING_FIELDS: Final = frozenset({b"connection", b"content-length", b"transfer-encoding"})


class _Stop(Exception):
    """Raised from a callback to stop llhttp; the error is already among the events."""


class ResponseParser:
    """Turns an upstream's bytes into `ResponseHead`, `Body` and `END` events.

    `start(method)` is called before each request is sent: a response to HEAD has no body
    whatever its headers say (RFC 9110 §9.3.2), which llhttp cannot know by itself. The
    llhttp parser is kept while it ended the last message itself, and replaced when it was
    left mid-message (a body counted here, a HEAD response, an error): a new one per response
    cost about 3,000 instructions, 2 % of a proxied request (callgrind). Interim 1xx responses
    are dropped (we never forward `Expect`).
    """

    def __init__(self) -> None:
        self._events: list[ResponseEvent] = []
        self._state = _COMPLETE
        self._head_request = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._left = 0  # bytes of a counted body still to come
        self._seen = False  # any byte of this response arrived (a retry is no longer safe)
        self._framing: Framing = NO_BODY
        self._parser = httptools.HttpResponseParser(self)
        self._between_messages = True  # llhttp's next byte would begin a message

    def start(self, method: bytes) -> None:
        self._state = _HEAD
        self._head_request = method == b"HEAD"
        self._seen = False
        if not self._between_messages:
            self._parser = httptools.HttpResponseParser(self)
            self._between_messages = True

    @property
    def started(self) -> bool:
        """Some of the response has been parsed (a retry is no longer safe)."""
        return self._seen

    @property
    def complete(self) -> bool:
        return self._state is _COMPLETE

    def feed(self, data: bytes) -> list[ResponseEvent]:
        state = self._state
        if state is _COUNTED:
            return self._feed_counted(data)
        if state is _BROKEN:
            return []  # the error was reported; the connection is being dropped
        self._seen = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self._state is not _BROKEN:  # not one of ours (_stop reports those)
                self._broken("The upstream sent a broken response.")
        except httptools.HttpParserError as exc:
            self._broken(f"The upstream sent a broken response: {exc}.")
        events, self._events = self._events, []
        return events

    def _feed_counted(self, data: bytes) -> list[ResponseEvent]:
        """The rest of a Content-Length body (RFC 9112 §6.3 rule 6), counted here rather than
        by llhttp, which would only count it too: the upstream's bytes go on to the client
        as they are, without a callback and a copy per read."""
        left = self._left
        if len(data) < left:
            self._left = left - len(data)
            return [Body(data)]
        self._left = 0
        self._state = _COMPLETE
        if len(data) == left:
            return [Body(data), END]
        self._state = _BROKEN
        stray = BrokenResponse("The upstream sent bytes after the response.")
        return [Body(data[:left]), END, stray]

    def feed_eof(self) -> list[ResponseEvent]:
        """The upstream closed its side: that ends a close-delimited body, and is an error
        anywhere else in a response (a short body must never look complete)."""
        if self._state is _COMPLETE:
            return []
        if self._state is _BODY and self._framing is TO_CLOSE:
            self._state = _COMPLETE
            return [END]
        return [BrokenResponse("The upstream closed the connection mid-response.")]

    def _broken(self, detail: str) -> None:
        self._state = _BROKEN
        self._between_messages = False
        self._events.append(BrokenResponse(detail))

    def _stop(self, detail: str) -> None:
        self._broken(detail)
        raise _Stop

    # httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._state is not _HEAD:
            # A second response to one request: the connection's framing is lost
            # (Apache CVE-2022-22720 class); nothing more from it may be relayed.
            self._stop("The upstream sent an unrequested response.")
        self._between_messages = False
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        # Trailer fields land here too, in a list nobody reads (see on_headers_complete).
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        headers, self._headers = self._headers, []
        if not 100 <= status <= 599:  # RFC 9110 §15: three digits, first one 1-5
            self._stop(f"The upstream sent status {status}.")
        if status == 101:
            self._stop("The upstream switched protocols.")
        if status < 200:
            return
        content_length = None
        framing = TO_CLOSE
        connection: list[bytes] = []
        for name, value in headers:
            if name not in _FRAMING_FIELDS:
                continue
            if name == b"connection":
                connection.append(value)
            elif name == b"content-length":
                content_length = int(value)  # llhttp has checked: digits only, one value
                framing = BY_LENGTH
            else:
                if value.strip(b" \t").lower() != b"chunked":
                    self._stop("Unsupported upstream transfer coding.")
                framing = CHUNKED
        # RFC 9110 §6.4.1: HEAD responses, 204 and 304 never have content.
        if self._head_request or status == 204 or status == 304 or content_length == 0:
            framing = NO_BODY
        self._framing = framing
        self._events.append(
            ResponseHead(
                status=status,
                headers=headers,
                keep_alive=self._parser.should_keep_alive(),
                framing=framing,
                content_length=content_length,
                connection=connection_options(connection) if connection else frozenset(),
            )
        )
        if framing is NO_BODY:
            # Complete now. llhttp cannot know a HEAD response has no body and would go on
            # to expect one: any bytes it takes as body are stray (on_body).
            self._state = _COMPLETE
            self._events.append(END)
        elif framing is BY_LENGTH:
            assert content_length is not None
            self._left = content_length
            self._state = _COUNTED
        else:
            self._state = _BODY

    def on_body(self, body: bytes) -> None:
        state = self._state
        if state is _COUNTED:
            # The head's read carried some of the counted body (never more: llhttp counts
            # it too); the rest comes through _feed_counted. llhttp stays behind mid-body:
            # start() gives a fresh parser.
            self._events += self._feed_counted(body)
        elif state is _BODY:
            self._events.append(Body(body))
        else:
            self._stop("The upstream sent bytes after the response.")

    def on_message_complete(self) -> None:
        self._between_messages = True
        if self._state is _BODY:
            self._state = _COMPLETE
            self._events.append(END)
