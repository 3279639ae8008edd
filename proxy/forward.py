"""The forwarding pipeline, one linear function in the manner of Go's ReverseProxy.ServeHTTP:
route, check access, rewrite, send upstream (with the headers the upstream may see, plus the
proxy's), relay head, stream body. The response cache wraps the upstream step
(`cache.CachingSend`): it may answer in the upstream's place, revalidate a stale entry, or
keep a copy of the body as it is relayed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from proxy import errors, routing, trace
from proxy.access import (
    AuthClient,
    Session,
    cookie_name,
    session_cookie,
    without_session_cookies,
)
from proxy.cache import CachingSend, ResponseCache
from proxy.http1 import BY_LENGTH, CHUNKED, NO_BODY, RequestHead, ResponseHead
from proxy.http1.headers import Headers, get, http_date, request_fields, response_fields
from proxy.http1.writer import encode_request_head
from proxy.replicas import Lease, ReplicaSet, send
from proxy.reply import Outbound, Send
from proxy.request_id import HEADER as REQUEST_ID
from proxy.request_id import RequestIds
from proxy.transaction import Transaction

if TYPE_CHECKING:
    # The client side (a cycle only for the type checker; mypyc calls its methods
    # natively, where a Protocol's went through Python-level lookups).
    from proxy.protocol import ClientConnection


class Forwarder:
    def __init__(
        self,
        upstreams: dict[routing.Upstream, ReplicaSet],
        auth: AuthClient,
        cache: ResponseCache,
        request_ids: RequestIds,
        token: bytes | None = None,
    ) -> None:
        # By name: a str hashes in C, an Enum member through Python-level __hash__.
        self._upstreams = {upstream.value: replicas for upstream, replicas in upstreams.items()}
        self._auth = auth
        self._request_ids = request_ids
        self._token = token
        self._loop = asyncio.get_running_loop()
        # The upstream step; the response cache, when on, wraps it (and nothing else).
        self._send: Send = self._send_upstream
        if cache.enabled:
            self._send = CachingSend(cache, self._send_upstream, self._loop.time)

    async def forward(self, tx: Transaction, client: ClientConnection) -> None:
        head = tx.head
        assert head is not None
        tx.request_id = self._request_ids.take(head.headers)
        route = routing.route(head.method, head.path)
        tx.route = route.label
        # Only where a verdict is asked for or dropped: public files need no cookie parsing.
        cookie = session = None
        if route.per_session or route.logout:
            cookie = session_cookie(head.cookie, cookie_name(client.tls))
        if route.per_session:
            session = await self._check_access(route, cookie, client, tx.request_id)
            if session is not None:
                tx.user = session.user
        body = tx.body
        if body is not None and head.expect_continue and not body.received:
            client.send_continue()  # RFC 9110 §10.1.1: access is granted, so ask for the body
        target = rewrite_target(head, route, session)
        reply = await self._send(
            Outbound(head, target, route, body, session, client.peer_ip, client.tls, tx.request_id)
        )
        response = reply.head
        if route.logout:
            # The session is over at the auth service: no cached verdict may outlive it here.
            self._auth.forget(cookie)
            if revoked := get(response.headers, b"x-auth-revoked-user"):
                self._auth.forget_user(revoked)
        with reply:  # gives the connection back; a broken body counts against the replica
            tx.cache = reply.cache
            chunked, close = response_framing(head, response)
            sink = client.begin_response(
                tx,
                response.status,
                client_headers(response, route, chunked),
                chunked=chunked,
                close=close or not reply.sent_whole,
            )
            done = reply.relay(sink)
            if done is not None:
                client.relay_from(reply.source)
                try:
                    await done
                finally:
                    client.relay_from(None)

    async def _send_upstream(self, out: Outbound) -> Lease:
        head, name = out.head, out.route.upstream_name
        fields = upstream_headers(
            head,
            out.peer_ip,
            out.session,
            self._loop.time(),
            tls=out.tls,
            token=self._token,
            keep_session_cookie=out.route.to_auth,
        )
        fields.append((REQUEST_ID, out.request_id))
        if out.if_none_match is not None:
            fields = revalidation_headers(fields, out.if_none_match)
        request = encode_request_head(head.method, out.target, fields)
        trace.upstream_request(name, request)
        lease = await send(
            self._upstreams[name],
            head.method,
            request,
            out.body,
            chunked=head.framing is CHUNKED,
        )
        trace.upstream_response(name, lease.head)
        return lease

    async def _check_access(
        self,
        route: routing.Route,
        cookie: bytes | None,
        client: ClientConnection,
        request_id: bytes,
    ) -> Session | None:
        """The session, if any; raise Forbidden where one is needed and missing."""
        if not route.per_session:
            return None
        verdict = await self._auth.verdict(
            cookie, peer_ip=client.peer_ip, tls=client.tls, request_id=request_id
        )
        if isinstance(verdict, Session):
            return verdict
        if route.public:
            return None
        if verdict.ended:
            raise errors.Forbidden("Your session has expired; log in again.")
        raise errors.Forbidden("Log in first: this page is only for logged-in users.")


def revalidation_headers(fields: Headers, etag: bytes) -> Headers:
    """Ask whether a stored response is still current (RFC 9111 §4.3.1), in place of the
    client's own conditionals: the cache answers those from whatever the upstream says."""
    fields = [p for p in fields if p[0] not in (b"if-none-match", b"if-modified-since")]
    fields.append((b"If-None-Match", etag))
    return fields


def rewrite_target(head: RequestHead, route: routing.Route, session: Session | None) -> bytes:
    """A logged-in user's home page is the secret page."""
    if route.home and session is not None:
        _, question, query = head.target.partition(b"?")
        return routing.SECRET_PAGE + question + query
    return head.target


def upstream_headers(
    head: RequestHead,
    peer_ip: bytes,
    session: Session | None,
    now: float,
    *,
    tls: bool = False,
    token: bytes | None = None,
    keep_session_cookie: bool = False,
) -> Headers:
    """The request headers as the upstream sees them: the client's own fields that may pass
    (see `request_fields`; the session cookie only to the auth service, which sets and ends
    it), then the proxy's: Host, framing, forwarding, identity and the internal token."""
    headers = request_fields(head.headers, head.connection)
    if not keep_session_cookie and head.cookie is not None:
        headers = without_session_cookies(headers)
    # Exactly one Host; an HTTP/1.0 client may send none (or an empty one), but an HTTP/1.1
    # upstream must get one (RFC 9112 §3.2).
    headers.insert(0, (b"Host", head.host or b"localhost"))
    if head.framing is CHUNKED:
        headers.append((b"Transfer-Encoding", b"chunked"))
    headers.append((b"X-Forwarded-For", peer_ip))
    headers.append((b"X-Forwarded-Proto", b"https" if tls else b"http"))
    headers.append((b"X-Forwarded-Host", head.host))
    if session is not None:
        headers.append((b"X-Auth-User", session.user))
        headers.append((b"X-Auth-Seconds-Left", b"%d" % session.seconds_left(now)))
    if token is not None:
        headers.append((b"X-Gatehouse-Token", token))
    return headers


def response_framing(head: RequestHead, response: ResponseHead) -> tuple[bool, bool]:
    """(chunked to the client, close the client connection afterwards).

    A body of unknown length goes out chunked to an HTTP/1.1 client; an HTTP/1.0 client
    knows no chunked coding, so its body ends when the connection does (RFC 9112 §6.3).
    """
    if response.framing in (NO_BODY, BY_LENGTH):
        return False, False
    if head.version == b"1.1":
        return True, False
    return False, True


def client_headers(response: ResponseHead, route: routing.Route, chunked: bool) -> Headers:
    """The response headers as the client sees them (see `response_fields`)."""
    headers = response_fields(response.headers, response.connection)
    if get(headers, b"date") is None:
        headers.append((b"Date", http_date()))  # RFC 9110 §6.6.1: an intermediary adds it
    if chunked:
        headers.append((b"Transfer-Encoding", b"chunked"))
    if route.per_session:
        # What a session shows must not be reused by a cache after logout or for another
        # user: private to the browser, and revalidated on every use (RFC 9111 §5.2.2). The
        # proxy decides this, whatever the upstream said.
        headers = [pair for pair in headers if pair[0] != b"cache-control"]
        headers.append((b"Cache-Control", b"private, no-cache"))
        if route.home:
            headers.append((b"Vary", b"Cookie"))  # a list field: adds to the upstream's
    return headers
