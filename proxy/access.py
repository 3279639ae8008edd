"""Access control: ask the auth service whether a request's cookies hold a live session.

The request is the nginx `auth_request` / Traefik ForwardAuth convention: `GET /verify` with
the client's `Cookie` header and nothing else (Envoy's ext_authz drops Cookie unless told,
which silently breaks cookie sessions); 2xx means yes, with the user in `X-Auth-User` and the
session's remaining seconds in `X-Auth-Seconds-Left`; 401/403 means no.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from proxy import errors
from proxy.headers import encode_request_head, get
from proxy.replicas import ReplicaSet, exchange
from proxy.request_id import HEADER as REQUEST_ID
from proxy.tally import Counts
from proxy.upstream import DISCARD


@dataclass(frozen=True, slots=True)
class Session:
    user: bytes
    expires_at: float  # loop time

    def seconds_left(self, now: float) -> int:
        return max(int(self.expires_at - now), 0)


_HIT, _SHARED, _MISS = ("hit",), ("shared",), ("miss",)


class _AskerGone(Exception):
    """The request asking the auth service on others' behalf was cancelled."""


class AuthClient:
    """Verdicts from the auth service, with a short cache of confirmed sessions.

    A page with several images asks once, not once per image (the most requested forward-auth
    feature: Traefik #6777, ingress-nginx #2862). A confirmed session is remembered for at most
    `cache_ttl` seconds and never past the session's own expiry, so an expired cookie is refused
    on time; refusals are not cached, so a tampered cookie is always checked.
    """

    def __init__(
        self,
        replicas: ReplicaSet,
        *,
        cache_ttl: float,
        cache_size: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._replicas = replicas
        self._loop = asyncio.get_running_loop()
        self._now = clock or self._loop.time
        self._cache_ttl = cache_ttl
        self._cache_size = cache_size
        self._cache: dict[bytes, tuple[float, Session]] = {}
        self._asking: dict[bytes, asyncio.Future[Session | None]] = {}
        self.results = Counts()  # for gatehouse_auth_cache_total: hit, shared, miss

    async def session(self, cookie: bytes | None, request_id: bytes = b"-") -> Session | None:
        if not cookie:
            return None  # no cookie, no session: no need to ask
        now = self._now()
        cached = self._cache.get(cookie)
        if cached is not None:
            if cached[0] > now:
                self.results.add(_HIT)
                return cached[1]
            del self._cache[cookie]
        # One question per cookie at a time: when a page's images arrive together they share
        # the first one's answer instead of asking the auth service each.
        while (asked := self._asking.get(cookie)) is not None:
            try:
                self.results.add(_SHARED)
                return await asyncio.shield(asked)
            except _AskerGone:
                pass  # its client left; ask again ourselves
        self.results.add(_MISS)
        return await self._ask(cookie, now, request_id)

    async def _ask(self, cookie: bytes, now: float, request_id: bytes) -> Session | None:
        answer: asyncio.Future[Session | None] = self._loop.create_future()
        self._asking[cookie] = answer
        try:
            session = await self._verify(cookie, now, request_id)
        except BaseException as exc:
            answer.set_exception(exc if isinstance(exc, errors.ProxyError) else _AskerGone())
            answer.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            del self._asking[cookie]
        answer.set_result(session)
        if session is not None and self._cache_size and self._cache_ttl > 0:
            self._remember(cookie, session, now)
        return session

    async def _verify(self, cookie: bytes, now: float, request_id: bytes) -> Session | None:
        fields = [(b"Host", b"auth"), (b"Cookie", cookie), (REQUEST_ID, request_id)]
        head = encode_request_head(b"GET", b"/verify", fields)
        lease = await exchange(self._replicas, b"GET", head)
        with lease:
            await lease.conn.relay(DISCARD)
        response = lease.head
        if response.status in (401, 403):
            return None
        if not 200 <= response.status < 300:
            raise errors.BadGateway(f"The auth service answered {response.status}.")
        user = get(response.headers, b"x-auth-user")
        left = get(response.headers, b"x-auth-seconds-left")
        if not user or left is None or not left.isdigit():
            raise errors.BadGateway("The auth service's answer lacks the session details.")
        return Session(user=user, expires_at=now + int(left))

    def _remember(self, cookie: bytes, session: Session, now: float) -> None:
        if len(self._cache) >= self._cache_size:
            # Oldest first (dicts keep insertion order): bounded memory, no bookkeeping.
            del self._cache[next(iter(self._cache))]
        # The auth service counts whole seconds from a whole-second timestamp, so the session
        # may end up to a second before `expires_at`: stay a second on the safe side.
        self._cache[cookie] = (min(now + self._cache_ttl, session.expires_at - 1), session)
