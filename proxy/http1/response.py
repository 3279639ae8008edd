"""Parsing what an upstream sends: bytes in, `ResponseHead`/`Body`/`END` events out."""

from __future__ import annotations

from dataclasses import dataclass, field

import httptools

from proxy import errors
from proxy.http1.events import (
    BY_LENGTH,
    CHUNKED,
    END,
    NO_BODY,
    TO_CLOSE,
    Body,
    Framing,
    ResponseEvent,
    ResponseHead,
)
from proxy.http1.headers import connection_options


class _Stop(Exception):
    """Raised from a callback to stop llhttp; the error is already among the events."""


@dataclass(slots=True)
class _ResponseState:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    in_head: bool = True


class ResponseParser:
    """Turns an upstream's bytes into `ResponseHead`, `Body` and `END` events.

    `start(method)` is called before each request is sent: a response to HEAD has no body
    whatever its headers say (RFC 9110 §9.3.2), which llhttp cannot know by itself. Interim
    1xx responses are dropped (we never forward `Expect`, so none are expected).
    """

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._events: list[ResponseEvent] = []
        self._message = _ResponseState()
        self._head_request = False
        self._framing: Framing | None = None
        self._stopped = False  # llhttp's state is unusable for the next response
        self._failed = False
        self.complete = False
        self._length_left = 0  # bytes of a Content-Length body still to come (see feed)
        self._body_seen = 0
        self._message_length: int | None = None

    def start(self, method: bytes) -> None:
        self._length_left = 0
        self._body_seen = 0
        self._message_length: int | None = None
        self._head_request = method == b"HEAD"
        self._framing = None
        self._message = _ResponseState()
        self.complete = False
        if self._stopped:  # llhttp is mid-message or failed: begin afresh
            self._parser = httptools.HttpResponseParser(self)
            self._stopped = self._failed = False

    @property
    def started(self) -> bool:
        """Some of the response has been parsed (a retry is no longer safe)."""
        return self._framing is not None or self._message.status != 0

    def feed(self, data: bytes) -> list[ResponseEvent]:
        if self._failed:
            return []  # the error was reported; the connection is being dropped
        if self._length_left:
            return self._feed_length_body(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._failed = True
            if not (self._events and isinstance(self._events[-1], errors.ProxyError)):
                self._events.append(errors.BadGateway("The upstream sent a broken response."))
        except httptools.HttpParserError as exc:
            self._failed = True
            self._events.append(errors.BadGateway(f"The upstream sent a broken response: {exc}."))
        if self._framing is BY_LENGTH and not self.complete and not self._failed:
            # From here on the rest of a Content-Length body is known by its size alone.
            self._length_left = (self._message_length or 0) - self._body_seen
        events, self._events = self._events, []
        return events

    def _feed_length_body(self, data: bytes) -> list[ResponseEvent]:
        """The rest of a Content-Length body (RFC 9112 §6.3 rule 6), counted here rather than
        by llhttp, which would only count it too: the upstream's bytes go on to the client
        as they are, without a callback and a copy per read. llhttp is left behind in the
        body, so the next response starts with a fresh parser."""
        left = self._length_left
        self._stopped = True
        if len(data) < left:
            self._length_left = left - len(data)
            return [Body(data)]
        self._length_left = 0
        self.complete = True
        if len(data) == left:
            return [Body(data), END]
        self._failed = True
        stray = errors.BadGateway("The upstream sent bytes after the response.")
        return [Body(data[:left]), END, stray]

    def feed_eof(self) -> list[ResponseEvent]:
        """The upstream closed its side: that ends a close-delimited body, and is an error
        anywhere else in a response (a short body must never look complete)."""
        if self.complete:
            return []
        if self._framing is TO_CLOSE:
            self.complete = True
            return [END]
        return [errors.BadGateway("The upstream closed the connection mid-response.")]

    def _stop(self, detail: str) -> None:
        self._events.append(errors.BadGateway(detail))
        self._stopped = True
        raise _Stop

    # httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            # A second response to one request: the connection's framing is lost
            # (Apache CVE-2022-22720 class); nothing more from it may be relayed.
            self._stop("The upstream sent an unrequested response.")
        self._message = _ResponseState()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._message.in_head:
            self._message.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._message.status = status
        self._message.in_head = False
        if not 100 <= status <= 599:  # RFC 9110 §15: three digits, first one 1-5
            self._stop(f"The upstream sent status {status}.")
        if status == 101:
            self._stop("The upstream switched protocols.")
        if status < 200:
            return
        content_length = None
        framing = TO_CLOSE
        connection: list[bytes] = []
        for name, value in self._message.headers:
            if name == b"connection":
                connection.append(value)
            elif name == b"content-length":
                content_length = int(value)
                framing = BY_LENGTH
            elif name == b"transfer-encoding":
                if value.strip(b" \t").lower() != b"chunked":
                    self._stop("Unsupported upstream transfer coding.")
                framing = CHUNKED
        # RFC 9110 §6.4.1: HEAD responses, 204 and 304 never have content.
        no_content = self._head_request or status in (204, 304)
        if no_content or (framing is BY_LENGTH and content_length == 0):
            framing = NO_BODY
        self._framing = framing
        self._message_length = content_length
        self._events.append(
            ResponseHead(
                status=status,
                headers=self._message.headers,
                keep_alive=self._parser.should_keep_alive(),
                framing=framing,
                content_length=content_length,
                connection=connection_options(connection) if connection else frozenset(),
            )
        )
        if self._head_request:
            # llhttp cannot know a HEAD response has no body: it goes on to expect one. The
            # response is complete now; any bytes llhttp takes as body are stray (on_body),
            # and the next exchange needs a fresh parser.
            self._finish()
            self._stopped = True

    def on_body(self, body: bytes) -> None:
        if self.complete:
            self._stop("The upstream sent bytes after the response.")
        self._body_seen += len(body)
        self._events.append(Body(body))

    def on_message_complete(self) -> None:
        if self._framing is not None and not self.complete:
            self._finish()

    def _finish(self) -> None:
        self.complete = True
        self._events.append(END)
