"""Parsing what a client sends: bytes in, `RequestHead`/`Body`/`END` events out.

The framing itself is llhttp's (through httptools), which already refuses the classic smuggling
vectors: Content-Length together with Transfer-Encoding, duplicate or non-numeric
Content-Length, bare CR/LF, obs-fold, invalid tokens, malformed chunks. On top of it this module
enforces the rules llhttp leaves to the application (Host, versions, Transfer-Encoding codings,
Expect, Upgrade) and the size limits.
"""

from __future__ import annotations

import enum
from typing import Final

import httptools

from proxy.http1.events import (
    BY_LENGTH,
    CHUNKED,
    END,
    NO_BODY,
    Body,
    BodyTooLarge,
    HeadTooLarge,
    Limits,
    MalformedRequest,
    ProtocolError,
    RequestEvent,
    RequestHead,
    TargetTooLong,
    UnknownExpectation,
    UnsupportedFeature,
    UnsupportedVersion,
)
from proxy.http1.headers import connection_options

_HOST_FORBIDDEN: Final = frozenset(b" \t/\\@?#")
_VERSIONS: Final = {"1.1": b"1.1", "1.0": b"1.0"}
# The fields _build_head reads; every other field passes through untouched.
_FRAMING_FIELDS: Final = frozenset(
    {b"host", b"cookie", b"connection", b"transfer-encoding", b"content-length", b"expect"}
)


class _State(enum.Enum):
    IDLE = 0
    HEAD = 1
    BODY = 2
    DONE = 3  # after an error: nothing more is parsed


# Looked up once (see events.NO_BODY for why).
_IDLE: Final = _State.IDLE
_HEAD: Final = _State.HEAD
_BODY: Final = _State.BODY
_DONE: Final = _State.DONE


class _Stop(Exception):
    """Raised from a callback to stop llhttp; the reason is kept on the parser."""


class RequestParser:
    """Turns the bytes a client sends into `RequestHead`, `Body` and `END` events.

    A protocol error becomes a `ProtocolError` event at the end of the batch, after the events of
    the requests that were complete before it, so that pipelined responses keep their order.
    After an error the parser ignores all further input.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits or Limits()
        self._parser = httptools.HttpRequestParser(self)
        self._events: list[RequestEvent] = []
        self._state = _IDLE
        self._error: ProtocolError | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._raw_head_bytes = 0
        self._body_bytes = 0
        self._begins = 0
        self._in_trailers = False  # after a chunk header with no data (yet): maybe trailers
        self._trailer_bytes = self._trailer_fields = 0

    @property
    def in_head(self) -> bool:
        """A request head has begun but is not complete (the header deadline runs)."""
        return self._state is _HEAD

    @property
    def in_body(self) -> bool:
        return self._state is _BODY

    def feed(self, data: bytes) -> list[RequestEvent]:
        if self._state is _DONE:
            return []
        size = len(data)
        state_before, begins_before = self._state, self._begins
        in_trailers_before = self._in_trailers
        while data:
            try:
                self._parser.feed_data(data)
                data = b""
            except httptools.HttpParserUpgrade as upgrade:
                # llhttp stops after a request with `Upgrade` (or CONNECT). We never switch
                # protocols (RFC 9110 §7.8 lets a server ignore Upgrade), and such a request
                # has no body (see _build_head), so the rest is simply the next request.
                data = data[upgrade.args[0] :]
                self._parser = httptools.HttpRequestParser(self)
            except httptools.HttpParserError as exc:
                self._fail(self._error or _classify(exc))
                break
        if self._state is _HEAD:
            self._count_head_bytes(size, state_before, self._begins - begins_before)
        elif in_trailers_before and self._in_trailers:
            # Likewise for a trailer section (RFC 9112 §7.1.2), which llhttp buffers the same
            # way; trailers share the header section's limits.
            self._trailer_bytes += size
            if self._trailer_bytes > self._limits.max_header_bytes:
                self._fail(HeadTooLarge("The trailer section is too large."))
        events, self._events = self._events, []
        return events

    def _count_head_bytes(self, size: int, state_before: _State, begins: int) -> None:
        """Bound an unfinished head by the bytes read for it, not only by its finished fields
        (llhttp buffers a field until it ends, so one endless field must be caught here).

        A read belongs wholly to the current head when the head began before it, or began in
        it as the read's only message. When earlier messages ended in the same read (a
        pipelined batch), the share is unknown and the read is not counted: one read at most.
        """
        if begins == 0:
            self._raw_head_bytes += size
        elif begins == 1 and state_before is _IDLE:
            self._raw_head_bytes = size
        if self._raw_head_bytes > self._limits.max_request_line + self._limits.max_header_bytes:
            self._fail(HeadTooLarge())

    def _fail(self, error: ProtocolError) -> None:
        self._state = _DONE
        self._events.append(error)

    def _raise(self, error: ProtocolError) -> None:
        self._error = error
        raise _Stop

    # httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._begins += 1
        self._state = _HEAD
        self._in_trailers = False
        self._trailer_bytes = self._trailer_fields = 0
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._raw_head_bytes = 0
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_request_line:
            self._raise(TargetTooLong())

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._state is not _HEAD:
            # A trailer field of a chunked body: counted, not forwarded (RFC 9112 §7.1.2).
            self._trailer_bytes += len(name) + len(value) + 4
            self._trailer_fields += 1
            if (
                self._trailer_bytes > self._limits.max_header_bytes
                or self._trailer_fields > self._limits.max_header_count
            ):
                self._raise(HeadTooLarge("The trailer section is too large."))
            return
        self._headers.append((name.lower(), value))
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self._limits.max_header_bytes:
            self._raise(HeadTooLarge())
        if len(self._headers) > self._limits.max_header_count:
            self._raise(HeadTooLarge("Too many header fields."))

    def on_headers_complete(self) -> None:
        try:
            head = self._build_head()
        except ProtocolError as error:
            self._raise(error)
        self._state = _BODY
        self._events.append(head)

    def on_chunk_header(self) -> None:
        # Until data follows, this may be the last chunk, and what comes next trailer fields.
        self._in_trailers = True

    def on_chunk_complete(self) -> None:
        self._in_trailers = False

    def on_body(self, body: bytes) -> None:
        self._in_trailers = False
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            self._raise(BodyTooLarge())
        self._events.append(Body(body))

    def on_message_complete(self) -> None:
        self._state = _IDLE
        self._events.append(END)

    # validation ----------------------------------------------------------------------------

    def _build_head(self) -> RequestHead:
        parser = self._parser
        method = parser.get_method()
        version = _VERSIONS.get(parser.get_http_version())
        if version is None:
            if parser.get_http_version().startswith("0."):
                raise MalformedRequest("HTTP/0.9 requests are not supported.")
            raise UnsupportedVersion()
        if method == b"CONNECT":
            raise UnsupportedFeature("CONNECT is not supported: this is no forward proxy.")
        target = self._url
        if not (target.startswith(b"/") or (target == b"*" and method == b"OPTIONS")):
            raise MalformedRequest("The request target must be a path (origin-form).")
        if target.find(b"#") >= 0:  # RFC 9112 §3.2.1: origin-form has no fragment (`in`: slower)
            raise MalformedRequest("The request target must not contain a fragment.")

        hosts: list[bytes] = []
        transfer_encoding: bytes | None = None
        content_length: int | None = None
        expect: bytes | None = None
        connection: list[bytes] = []
        cookies: list[bytes] = []
        for name, value in self._headers:
            if name not in _FRAMING_FIELDS:  # one set lookup for the common field
                continue
            if name == b"host":
                hosts.append(value)
            elif name == b"cookie":
                cookies.append(value)
            elif name == b"connection":
                connection.append(value)
            elif name == b"transfer-encoding":
                transfer_encoding = value if transfer_encoding is None else b"duplicate"
            elif name == b"content-length":
                content_length = int(value)  # llhttp has checked: digits only, one value
            else:
                expect = value

        # RFC 9112 §3.2: a 1.1 request has exactly one Host; more than one is an error.
        if len(hosts) != 1 and (hosts or version == b"1.1"):
            raise MalformedRequest("A request needs exactly one Host header.")
        host = _valid_host(hosts[0]) if hosts else b""
        if version == b"1.1" and not host:
            # RFC 9112 §3.2: the http scheme always has an authority, so an empty Host
            # (allowed only for URIs without one) names no site at all.
            raise MalformedRequest("The Host header must not be empty.")

        framing = NO_BODY
        if transfer_encoding is not None:
            # RFC 9112 §6.1: a 1.0 recipient cannot be trusted with Transfer-Encoding, and
            # the only coding we relay is `chunked` on its own.
            if version == b"1.0":
                raise MalformedRequest("Transfer-Encoding is not allowed in HTTP/1.0.")
            if transfer_encoding.strip(b" ").lower() != b"chunked":
                raise UnsupportedFeature("Only Transfer-Encoding: chunked is supported.")
            framing = CHUNKED
        elif content_length:
            if content_length > self._limits.max_body_bytes:
                raise BodyTooLarge()
            framing = BY_LENGTH

        if parser.should_upgrade() and framing is not NO_BODY:
            # llhttp hands the bytes after such a head back as the new protocol's data, so
            # a body here would be parsed as the next request (smuggling).
            raise MalformedRequest("A request asking to switch protocols cannot have a body.")

        expect_continue = False
        if expect is not None:
            if expect.strip(b" \t").lower() != b"100-continue":
                raise UnknownExpectation()
            # RFC 9110 §10.1.1: a 1.0 client cannot understand 100 Continue; ignore it.
            expect_continue = framing is not NO_BODY and version == b"1.1"

        return RequestHead(
            method=method,
            target=target,
            version=version,
            headers=self._headers,
            keep_alive=parser.should_keep_alive(),
            framing=framing,
            content_length=content_length,
            expect_continue=expect_continue,
            host=host,
            connection=connection_options(connection) if connection else frozenset(),
            # RFC 6265 §5.4 allows one Cookie field; tolerate more by joining them.
            cookie=b"; ".join(cookies) if cookies else None,
        )


# Host values checked and found valid, as sent and without OWS: few distinct values occur,
# and each is checked once. The two method calls the check takes cost ~2,300 instructions a
# request (callgrind); a lookup is far less. Bounded, as the values come from the network.
_REMEMBERED_HOSTS: Final = 1024
_valid_hosts: Final[dict[bytes, bytes]] = {}


def _valid_host(value: bytes) -> bytes:
    host = _valid_hosts.get(value)
    if host is None:
        host = value.strip(b" \t")  # RFC 9110 §5.5: OWS is not part of the value
        if not _HOST_FORBIDDEN.isdisjoint(host):
            raise MalformedRequest("Invalid Host header.")
        if len(_valid_hosts) < _REMEMBERED_HOSTS:
            _valid_hosts[value] = host
    return host


def _classify(exc: httptools.HttpParserError) -> ProtocolError:
    message = str(exc) or "malformed request"
    if "overflow" in message and "Content-Length" in message:
        # A length that does not fit in 64 bits is unparsable framing, not a large body
        # (RFC 9112 §6.3); a parsable length over the limit is the 413 in _build_head.
        return MalformedRequest("Content-Length is too large to represent.")
    return MalformedRequest(f"Malformed request: {message}.")
