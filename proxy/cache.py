"""A small shared cache (RFC 9111) in the proxy's memory, consulted after the access check.

The forwarder asks it only once a request may be served at all, so a protected response is
never shown to anyone without a session; what the client is told about caching is decided
elsewhere (`forward.client_headers`). Deliberately narrow otherwise: it stores only what is
plainly safe to reuse, and answers only what it can without interpreting dates or ranges:
- requests: GET or HEAD without `Range`, `Authorization` or conditionals other than
  `If-None-Match` (those go to the upstream, which knows how to answer them), keyed by the
  target the upstream would get. `If-None-Match` is answered with 304 from a stored ETag, as
  browsers revalidate everything the proxy marks `no-cache`;
- responses: 200 with Content-Length, explicit freshness (`s-maxage` or `max-age` > 0), no
  `no-store`/`private`/`no-cache`, no `Set-Cookie`, and `Vary` on nothing but
  Accept-Encoding (whose value is part of the key, RFC 9111 §4.1). A response to a request
  that named its user must also say `public` or `s-maxage`.
A stale entry with an ETag is revalidated: the upstream is asked `If-None-Match` with it, and
a 304 renews the entry (RFC 9111 §4.3). Entries are bounded in size and in total bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from proxy import trace
from proxy.http1 import BY_LENGTH, NO_BODY, RequestHead, ResponseHead
from proxy.http1.headers import Headers, get
from proxy.reply import Outbound, Reply, Send
from proxy.sink import DISCARD, Sink
from proxy.upstream import UpstreamConnection

# Request fields that make a stored response unusable as-is (RFC 9111 §4, §3.5).
_BYPASS: Final = frozenset(
    {b"range", b"if-match", b"if-unmodified-since", b"if-range", b"authorization"}
)  # fmt: skip
# An entity tag, or `*` (RFC 9110 §8.8.3); a comma may stand inside the quotes.
_ENTITY_TAG: Final = re.compile(rb'(?:W/)?"[^"]*"|\*')
# What a 304 carries (RFC 9110 §15.4.5), plus Last-Modified for the browser's cache.
_NOT_MODIFIED_FIELDS: Final = frozenset(
    {b"cache-control", b"content-location", b"date", b"etag", b"expires", b"last-modified",
     b"vary"}
)  # fmt: skip


@dataclass
class Entry:
    head: ResponseHead
    body: bytes
    stored_at: float
    expires_at: float
    etag: bytes | None = None

    def age(self, now: float) -> bytes:
        return b"%d" % max(now - self.stored_at, 0)


def request_key(head: RequestHead, target: bytes) -> bytes | None:
    """The cache key of a request for `target` upstream, or None if the cache must not
    answer it."""
    if head.method not in (b"GET", b"HEAD"):
        return None
    accept_encoding = b""
    match = since = False
    for name, value in head.headers:
        if name in _BYPASS:
            return None
        if name == b"accept-encoding":
            accept_encoding = value
        elif name == b"if-none-match":
            match = True
        elif name == b"if-modified-since":
            since = True
    if since and not match:
        # Dates are left to the upstream; beside If-None-Match, If-Modified-Since is
        # ignored (RFC 9110 §13.1.3).
        return None
    return target + b"\n" + accept_encoding


def not_modified(head: RequestHead, entry: Entry) -> bool:
    """Whether `If-None-Match` matches the stored response: weak comparison, and `*` for
    any (RFC 9110 §13.1.2), so the answer is 304."""
    tags = [
        tag.removeprefix(b"W/")
        for name, value in head.headers
        if name == b"if-none-match"
        for tag in _ENTITY_TAG.findall(value)
    ]
    if not tags:
        return False
    return b"*" in tags or (entry.etag is not None and entry.etag.removeprefix(b"W/") in tags)


def not_modified_fields(fields: Headers) -> Headers:
    return [pair for pair in fields if pair[0].lower() in _NOT_MODIFIED_FIELDS]


def freshness(response: ResponseHead, *, identified: bool = False) -> float:
    """Seconds a shared cache may reuse `response`; 0 when it must not store it.

    `identified`: the request told the upstream who the user is (X-Auth-User). The upstream
    could have tailored the response to that user, so, as for a request with Authorization
    (RFC 9111 §3.5), only an explicit `public` or `s-maxage` makes it reusable for others.
    """
    if response.status != 200 or response.framing not in (BY_LENGTH, NO_BODY):
        return 0
    if get(response.headers, b"cache-control") is None:
        return 0  # no explicit freshness: the common case, told in one look
    max_age = shared_max_age = None
    shareable = not identified
    for name, value in response.headers:
        if name == b"set-cookie":
            return 0
        if name == b"vary" and any(
            v.strip().lower() != b"accept-encoding" for v in value.split(b",")
        ):
            return 0
        if name == b"cache-control":
            for directive in value.lower().split(b","):
                key, _, arg = directive.strip().partition(b"=")
                if key in (b"no-store", b"private", b"no-cache"):
                    return 0
                if key == b"public":
                    shareable = True
                elif key == b"max-age" and arg.isdigit():
                    max_age = int(arg)
                elif key == b"s-maxage" and arg.isdigit():
                    shared_max_age = int(arg)
                    shareable = True
    # s-maxage wins over max-age in a shared cache (RFC 9111 §5.2.2.10).
    lifetime = shared_max_age if shared_max_age is not None else max_age
    if not lifetime or not shareable:
        return 0
    # RFC 9111 §4.2.3: an Age from caches upstream counts against the lifetime.
    age = get(response.headers, b"age")
    return float(max(lifetime - (int(age) if age is not None and age.isdigit() else 0), 0))


class ResponseCache:
    def __init__(self, *, max_bytes: int, max_entry_bytes: int, clock: Callable[[], float]) -> None:
        self._max_bytes = max_bytes
        self._max_entry_bytes = max_entry_bytes
        self._now = clock
        self._entries: dict[bytes, Entry] = {}
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        return self._max_bytes > 0

    def lookup(self, key: bytes) -> Entry | None:
        """The fresh entry for `key`, if any."""
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= self._now():
            return None
        return entry

    def stale(self, key: bytes) -> Entry | None:
        """The stale entry for `key`, if it has an ETag to revalidate it with."""
        entry = self._entries.get(key)
        if entry is None or entry.etag is None or entry.expires_at > self._now():
            return None
        return entry

    def refresh(
        self, key: bytes, entry: Entry, response: ResponseHead, *, identified: bool
    ) -> Entry:
        """`entry`, confirmed current by the 304 `response`: its fields updated from the
        304's, except Content-Length (RFC 9111 §3.2), and its freshness renewed (§4.3.4)."""
        updated = {name for name, _ in response.headers} - {b"content-length"}
        fields = [pair for pair in entry.head.headers if pair[0] not in updated]
        fields += [pair for pair in response.headers if pair[0] in updated]
        head = dataclasses.replace(entry.head, headers=fields)
        now = self._now()
        lifetime = freshness(head, identified=identified)
        renewed = Entry(head, entry.body, now, now + lifetime, get(fields, b"etag"))
        if self._entries.get(key) is entry:
            if lifetime > 0:
                self._entries[key] = renewed  # the same body: the byte count stands
            else:
                self._drop(key)
        return renewed

    def wants(self, response: ResponseHead, *, identified: bool = False) -> float:
        """How long a response may be kept, if it is worth collecting for `store` (else 0)."""
        if not self.enabled or (response.content_length or 0) > self._max_entry_bytes:
            return 0
        return freshness(response, identified=identified)

    def store(self, key: bytes, response: ResponseHead, body: bytes, lifetime: float) -> None:
        if lifetime <= 0 or len(body) != (response.content_length or 0):
            return
        now = self._now()
        self._drop(key)
        while self._entries and self._bytes + len(body) > self._max_bytes:
            self._drop(next(iter(self._entries)))  # oldest first
        if len(body) <= self._max_bytes:
            etag = get(response.headers, b"etag")
            self._entries[key] = Entry(response, body, now, now + lifetime, etag)
            self._bytes += len(body)

    def _drop(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)


class Collector:
    """Passes a response body on to the client and keeps a copy for the cache."""

    __slots__ = ("_cache", "_key", "_lifetime", "_parts", "_response", "_sink")

    def __init__(
        self, sink: Sink, cache: ResponseCache, key: bytes, response: ResponseHead, lifetime: float
    ) -> None:
        self._sink, self._cache, self._key = sink, cache, key
        self._response, self._lifetime = response, lifetime
        self._parts: list[bytes] = []

    def body(self, data: bytes) -> None:
        self._parts.append(data)
        self._sink.body(data)

    def end(self) -> None:
        self._sink.end()
        body = b"".join(self._parts)
        self._cache.store(self._key, self._response, body, self._lifetime)

    def flush(self) -> None:
        self._sink.flush()


class StoredReply:
    """A stored response as the reply to a request: 304 if the request's If-None-Match
    matches it, else 200 (no body for HEAD), with its Age (RFC 9111 §5.1)."""

    __slots__ = ("_body", "cache", "head")
    sent_whole = True
    source = None

    def __init__(self, entry: Entry, request: RequestHead, now: float, cache: str) -> None:
        status = 304 if not_modified(request, entry) else 200
        fields = [pair for pair in entry.head.headers if pair[0] != b"age"]
        if status == 304:
            fields = not_modified_fields(fields)
        fields.append((b"Age", entry.age(now)))
        with_body = status == 200 and request.method != b"HEAD"
        self.head = ResponseHead(
            status, fields, keep_alive=True, framing=BY_LENGTH if with_body else NO_BODY
        )
        self._body = entry.body if with_body else None
        self.cache = cache

    def relay(self, sink: Sink) -> None:
        if self._body is not None:
            sink.body(self._body)
        sink.end()
        sink.flush()

    def __enter__(self) -> StoredReply:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class _Collecting:
    """An upstream's reply whose body is kept for the cache as it is relayed."""

    __slots__ = ("_cache", "_key", "_lifetime", "_reply")
    cache = "miss"

    def __init__(self, reply: Reply, cache: ResponseCache, key: bytes, lifetime: float) -> None:
        self._reply, self._cache, self._key, self._lifetime = reply, cache, key, lifetime

    @property
    def head(self) -> ResponseHead:
        return self._reply.head

    @property
    def sent_whole(self) -> bool:
        return self._reply.sent_whole

    @property
    def source(self) -> UpstreamConnection | None:
        return self._reply.source

    def relay(self, sink: Sink) -> asyncio.Future[None] | None:
        collector = Collector(sink, self._cache, self._key, self._reply.head, self._lifetime)
        return self._reply.relay(collector)

    def __enter__(self) -> _Collecting:
        self._reply.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._reply.__exit__(kind, exc, tb)


class CachingSend:
    """The pipeline's upstream step, wrapped by the cache: a fresh stored response answers
    without the upstream; a stale one with an ETag is revalidated (a 304 renews it, RFC 9111
    §4.3); a storable response is kept as it is relayed."""

    def __init__(self, cache: ResponseCache, send: Send, clock: Callable[[], float]) -> None:
        self._cache, self._send, self._now = cache, send, clock

    async def __call__(self, out: Outbound) -> Reply:
        cache = self._cache
        key = request_key(out.head, out.target)
        if key is None:
            return await self._send(out)
        if (entry := cache.lookup(key)) is not None:
            trace.response_cache_hit()
            return StoredReply(entry, out.head, self._now(), "hit")
        stale = cache.stale(key)
        if stale is not None:
            out.if_none_match = stale.etag
        reply = await self._send(out)
        response = reply.head
        if stale is not None and response.status == 304:
            with reply:
                done = reply.relay(DISCARD)
                if done is not None:
                    await done
            entry = cache.refresh(key, stale, response, identified=out.identified)
            return StoredReply(entry, out.head, self._now(), "revalidated")
        if out.head.method == b"GET":
            lifetime = cache.wants(response, identified=out.identified)
            if lifetime > 0:
                return _Collecting(reply, cache, key, lifetime)
        return reply
