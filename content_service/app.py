"""The content service: a small ASGI app that serves files under CONTENT_ROOT.

It speaks raw ASGI instead of building Starlette Response objects: a cached
file is answered with two messages whose headers were built when the file was
read, which is what makes it several times faster than `StaticFiles`.

Section numbers (§) in comments refer to RFC 9110, HTTP Semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import TypeVar

from starlette.types import Message, Receive, Scope, Send

from content_service import pages
from content_service.conditional import Conditions, evaluate, if_range_allows
from content_service.config import Settings
from content_service.encoding import accepts_gzip
from content_service.files import (
    OPEN_FLAGS,
    Entry,
    FileStore,
    Unavailable,
    Variant,
    cache_control,
    check_absent,
    large_variant,
)
from content_service.logs import current_request_id, log
from content_service.metrics import CONTENT_TYPE as METRICS_TYPE
from content_service.metrics import Metrics
from content_service.paths import BadPath, RequestPath, parse_request_path
from content_service.ranges import ByteRange, Unsatisfiable, parse_range
from content_service.security import (
    HTML_HEADERS,
    NOSNIFF,
    OPEN_PATHS,
    REQUEST_ID_FIELD,
    TOKEN_FIELD,
    token_allows,
)
from content_service.stream import stream_file

T = TypeVar("T")

# The request fields this service looks at; everything else is skipped in
# one pass over the raw header list.
_FIELDS = frozenset(
    {
        b"accept-encoding",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"range",
        b"if-range",
        TOKEN_FIELD,
        REQUEST_ID_FIELD,
    }
)
_CONDITIONAL = (b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since")

NOT_FOUND_KEY = "404.html"
NOT_FOUND_PATH = RequestPath(("404.html",), False)


def request_fields(raw_headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The fields we use, with repeated ones combined as a list (RFC 9110 §5.3).

    Combining also makes a repeated Range an (ignored) multi-range, and a
    repeated If-Modified-Since an invalid date, which is then ignored.
    """
    fields: dict[bytes, bytes] = {}
    for name, value in raw_headers:
        if name in _FIELDS:
            prior = fields.get(name)
            fields[name] = value if prior is None else prior + b", " + value
    return fields


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


async def _in_thread(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class ContentApp:
    """GET and HEAD for the files under the content root; see the module doc."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.store = FileStore(
            str(settings.content_root),
            settings.memory_max,
            caching=cache_control(settings.max_age),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.handle(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Nothing here speaks WebSocket; refuse the handshake.
            await send({"type": "websocket.close", "code": 1000})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        fields = request_fields(scope["headers"])
        rid = fields.get(REQUEST_ID_FIELD)
        if rid is not None:
            current_request_id.set(rid)
        method: str = scope["method"]
        head = method == "HEAD"
        path: str = scope["path"]
        if path in OPEN_PATHS and (head or method == "GET"):
            await self._operations(path, head, send)
            return
        if not token_allows(self.settings.internal_token, fields.get(TOKEN_FIELD)):
            target = scope.get("raw_path", b"").decode("ascii", "backslashreplace")[:200]
            log.warning("refused %s %s: no valid X-Gatehouse-Token", method, target)
            body = pages.BUILTIN_403
            await self._send(send, 403, _html_headers(len(body)), body, head)
            return
        if method != "GET" and not head:
            # §15.5.6: a 405 must list the methods the target supports.
            await self._simple(send, 405, head=False, extra=[(b"allow", b"GET, HEAD")])
            return
        try:
            request_path = parse_request_path(path)
        except BadPath as exc:
            if exc.status == 400:
                await self._simple(send, 400, head)
            else:
                await self.not_found(send, head)
            return
        try:
            await self._file(request_path, fields, head, receive, send)
        except Unavailable as exc:
            # Transient and ours (e.g. out of file descriptors): ask to retry, and never
            # let a client or cache take it for a missing file.
            log.warning("cannot read %s: %s", path, exc)
            await self._simple(send, 503, head, extra=[(b"retry-after", b"1")])

    async def _file(
        self,
        request_path: RequestPath,
        fields: dict[bytes, bytes],
        head: bool,
        receive: Receive,
        send: Send,
    ) -> None:
        key = request_path.key
        entry = self.store.cached(key)
        # A hit is a body answered from memory; a lookup or a streamed file reads the disk.
        if entry is not None and entry.identity is not None:
            self.metrics.cache_hits += 1
        else:
            self.metrics.cache_misses += 1
        if entry is None:
            entry = await _in_thread(self.store.load, request_path)
            if entry is None:
                await self.not_found(send, head)
                return
            self.store.remember(key, entry)
        if entry.identity is not None:
            await self._respond(entry, entry.identity, entry.mtime, fields, head, send, None, None)
            return
        await self._respond_large(key, entry, fields, head, receive, send)

    async def _respond_large(
        self,
        key: str,
        entry: Entry,
        fields: dict[bytes, bytes],
        head: bool,
        receive: Receive,
        send: Send,
    ) -> None:
        try:
            fd = os.open(entry.real_path, OPEN_FLAGS)
        except OSError as exc:
            self.store.forget(key)
            check_absent(exc)
            await self.not_found(send, head)
            return
        try:
            # Headers come from the open file, so Content-Length and the
            # validators match the bytes we are about to stream.
            st = os.fstat(fd)
            variant = large_variant(entry, st, self.store.caching)
            await self._respond(entry, variant, int(st.st_mtime), fields, head, send, receive, fd)
        finally:
            os.close(fd)

    async def _respond(
        self,
        entry: Entry,
        variant: Variant,
        mtime: int,
        fields: dict[bytes, bytes],
        head: bool,
        send: Send,
        receive: Receive | None,
        fd: int | None,
    ) -> None:
        """Answer for one file: 200, 206, 304, 412 or 416."""
        # §14.2: Range is defined only for GET, and a server must ignore it on
        # other methods, HEAD included.
        range_value = None if head else fields.get(b"range")
        if range_value is None and entry.gzip is not None:
            coding = fields.get(b"accept-encoding")
            if coding is not None and accepts_gzip(coding.decode("latin-1")):
                variant = entry.gzip

        if any(name in fields for name in _CONDITIONAL):
            conditions = Conditions(
                if_match=_text(fields.get(b"if-match")),
                if_none_match=_text(fields.get(b"if-none-match")),
                if_modified_since=_text(fields.get(b"if-modified-since")),
                if_unmodified_since=_text(fields.get(b"if-unmodified-since")),
            )
            status = evaluate(conditions, variant.etag, mtime)
            if status == 304:
                await self._send(send, 304, variant.not_modified_headers, b"", True)
                return
            if status == 412:
                await self._simple(send, 412, head)
                return

        if range_value is not None:
            if_range = fields.get(b"if-range")
            # §13.1.5: if the validator in If-Range does not match, ignore
            # Range and send the whole (changed) representation.
            if if_range is None or if_range_allows(
                if_range.decode("latin-1"), variant.etag, mtime, time.time()
            ):
                try:
                    byte_range = parse_range(range_value.decode("latin-1"), variant.size)
                except Unsatisfiable:
                    # §15.5.17: say how long the representation is.
                    extra = [(b"content-range", f"bytes */{variant.size}".encode())]
                    await self._simple(send, 416, head, extra=extra)
                    return
                if byte_range is not None:
                    await self._partial(variant, byte_range, send, receive, fd)
                    return

        if variant.body is not None:
            await self._send(send, 200, variant.ok_headers, variant.body, head)
            return
        await send(self._start(200, variant.ok_headers))
        if head or fd is None or receive is None:
            await send({"type": "http.response.body", "body": b""})
            return
        await stream_file(fd, 0, variant.size, send, receive, self.metrics)

    async def _partial(
        self,
        variant: Variant,
        byte_range: ByteRange,
        send: Send,
        receive: Receive | None,
        fd: int | None,
    ) -> None:
        headers = [
            (b"content-range", byte_range.content_range(variant.size).encode()),
            _clen(byte_range.length),
            *variant.partial_headers,
        ]
        if variant.body is not None:
            body = variant.body[byte_range.first : byte_range.last + 1]
            await self._send(send, 206, headers, body, False)
            return
        assert fd is not None and receive is not None
        await send(self._start(206, headers))
        await stream_file(fd, byte_range.first, byte_range.length, send, receive, self.metrics)

    async def _operations(self, path: str, head: bool, send: Send) -> None:
        """/healthz, /readyz, /metrics: before the token and any file (CONTRACT.md)."""
        status, content_type, body = 200, pages.TEXT_PLAIN, b"ok\n"
        if path == "/readyz":
            problem = await _in_thread(self.store.root_problem)
            if problem is None:
                body = b"ready\n"
            else:
                status, body = 503, f"not ready: {problem}\n".encode()
        elif path == "/metrics":
            content_type, body = METRICS_TYPE, self.metrics.render()
        headers = [_ctype(content_type), _clen(len(body)), _NO_STORE, NOSNIFF]
        await self._send(send, status, headers, body, head)

    def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> Message:
        """The message starting a response, counted in the metrics."""
        self.metrics.by_class[status // 100] += 1
        return {"type": "http.response.start", "status": status, "headers": headers}

    async def _send(
        self, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool
    ) -> None:
        """A whole response: start and body, counted in the metrics."""
        await send(self._start(status, headers))
        if head:
            body = b""  # §9.3.2: HEAD gets the same header fields as GET, and no content.
        self.metrics.sent_bytes += len(body)
        await send({"type": "http.response.body", "body": body})

    async def not_found(self, send: Send, head: bool) -> None:
        """The HTML 404 page: CONTENT_ROOT/404.html if there is one (and it can be read:
        the answer is 404 either way)."""
        entry = self.store.cached(NOT_FOUND_KEY)
        if entry is None:
            with contextlib.suppress(Unavailable):
                entry = await _in_thread(self.store.load, NOT_FOUND_PATH)
            if entry is not None:
                self.store.remember(NOT_FOUND_KEY, entry)
        body = pages.BUILTIN_404
        if entry is not None and entry.identity is not None and entry.identity.body is not None:
            body = entry.identity.body
        await self._send(send, 404, _html_headers(len(body)), body, head)

    async def _simple(
        self, send: Send, status: int, head: bool, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        body = pages.REASONS[status]
        headers = [_ctype(pages.TEXT_PLAIN), _clen(len(body)), *(extra or ()), NOSNIFF]
        await self._send(send, status, headers, body, head)


_NO_STORE = (b"cache-control", b"no-store")


def _html_headers(length: int) -> list[tuple[bytes, bytes]]:
    return [_ctype(pages.TEXT_HTML), _clen(length), _NO_STORE, *HTML_HEADERS]


def _ctype(value: bytes) -> tuple[bytes, bytes]:
    return (b"content-type", value)


def _clen(length: int) -> tuple[bytes, bytes]:
    return (b"content-length", str(length).encode())


def create_app(settings: Settings) -> ContentApp:
    """The ASGI application for `settings`."""
    return ContentApp(settings)
