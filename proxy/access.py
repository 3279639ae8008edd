"""Access control: ask the auth service whether a request's session cookie is live.

The request is the nginx `auth_request` / Traefik ForwardAuth convention, `GET /verify`, with
an explicit choice of what the auth service sees (Envoy's ext_authz drops Cookie unless told,
which silently breaks cookie sessions): only the session cookie, at most its first two values,
never the rest of the client's Cookie header. 2xx means yes, with the user in `X-Auth-User`
and the session's remaining seconds in `X-Auth-Seconds-Left`; 401/403 means no, with the
reason in `X-Auth-Reason` (missing, invalid, expired, revoked).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from proxy import errors, trace
from proxy.http1.headers import Headers, get
from proxy.http1.writer import encode_request_head
from proxy.replicas import ReplicaSet, send
from proxy.request_id import HEADER as REQUEST_ID
from proxy.sink import DISCARD
from proxy.tally import Counts

# The session cookie's name per listener: over TLS the `__Host-` prefix makes browsers take
# it only with Secure, Path=/ and no Domain, so a sibling subdomain cannot plant one
# (RFC 6265bis §4.1.3.2).
SESSION_COOKIE = b"session"
TLS_SESSION_COOKIE = b"__Host-session"
_SESSION_COOKIES = frozenset({SESSION_COOKIE, TLS_SESSION_COOKIE})
# A browser may hold two cookies of one name (e.g. Path=/ and a narrower path); more than two
# is a client stuffing values to make the auth service verify each (issue 10).
MAX_SESSION_VALUES = 2

# RFC 6265 §4.1.1 cookie-octet: what a well-formed cookie value (ours are itsdangerous tokens)
# may contain. Anything else is not a session value and is never sent to the auth service.
_COOKIE_OCTETS = frozenset(
    [0x21, *range(0x23, 0x2C), *range(0x2D, 0x3B), *range(0x3C, 0x5C), *range(0x5D, 0x7F)]
)


def cookie_name(tls: bool) -> bytes:
    return TLS_SESSION_COOKIE if tls else SESSION_COOKIE


def _pairs(cookie: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(name, value, the pair as sent) for each cookie-pair: the cookie-string is split on
    ';' and each pair on its first '=' with surrounding whitespace trimmed (RFC 6265 §5.2,
    as browsers and the auth service read it); pieces without '=' are ignored."""
    pairs = []
    for piece in cookie.split(b";"):
        pair = piece.strip(b" \t")
        name, eq, value = pair.partition(b"=")
        if eq:
            pairs.append((name.strip(b" \t"), value.strip(b" \t"), pair))
    return pairs


def session_cookie(cookie: bytes | None, name: bytes) -> bytes | None:
    """The Cookie value to verify, `name=v1` or `name=v1; name=v2`: the first two well-formed
    values of cookie `name` (names are case-sensitive, RFC 6265 §5.4), or None."""
    if not cookie:
        return None
    found = [
        b"%s=%s" % (name, value)
        for n, value, _ in _pairs(cookie)
        if n == name and value and _COOKIE_OCTETS.issuperset(value)
    ]
    return b"; ".join(found[:MAX_SESSION_VALUES]) or None


def without_session_cookies(headers: Headers) -> Headers:
    """The request's fields with every session cookie taken out of its Cookie fields (an
    emptied field goes): the content service never needs it, and what it never sees it
    cannot leak (oauth2-proxy #388)."""
    out: Headers = []
    for field, value in headers:
        if field == b"cookie":
            kept = [pair for name, _, pair in _pairs(value) if name not in _SESSION_COOKIES]
            if kept:
                out.append((field, b"; ".join(kept)))
        else:
            out.append((field, value))
    return out


@dataclass(frozen=True, slots=True)
class Session:
    user: bytes
    expires_at: float  # loop time

    def seconds_left(self, now: float) -> int:
        return max(int(self.expires_at - now), 0)


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: bytes  # X-Auth-Reason, or b"" when the auth service gave none

    @property
    def ended(self) -> bool:
        """The cookie named a real session that is over: the user should log in again."""
        return self.reason in (b"expired", b"revoked")


NO_COOKIE = Refusal(b"missing")
Verdict = Session | Refusal

_HIT, _SHARED, _MISS = ("hit",), ("shared",), ("miss",)


class _AskerGone(Exception):
    """The request asking the auth service on others' behalf was cancelled."""


class AuthClient:
    """Verdicts from the auth service, with a short cache of confirmed sessions.

    A page with several images asks once, not once per image (the most requested forward-auth
    feature: Traefik #6777, ingress-nginx #2862). The cache is keyed on the session cookie
    alone, so other cookies changing do not defeat it, and a logout passing through the proxy
    clears it (ingress-nginx's whole-Cookie key kept serving a logged-out session). A
    confirmed session is remembered for at most `cache_ttl` seconds and never past the
    session's own expiry, so an expired cookie is refused on time; refusals are not cached,
    so a tampered cookie is always checked.
    """

    def __init__(
        self,
        replicas: ReplicaSet,
        *,
        cache_ttl: float,
        cache_size: int,
        token: bytes | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._replicas = replicas
        self._loop = asyncio.get_running_loop()
        self._now = clock or self._loop.time
        self._cache_ttl = cache_ttl
        self._cache_size = cache_size
        self._token = token
        self._cache: dict[bytes, tuple[float, Session]] = {}
        self._asking: dict[bytes, asyncio.Future[Verdict]] = {}
        # Bumped by every forget: an answer asked for before a logout is not cached after it.
        self._forgets = 0
        self.results = Counts()  # for gatehouse_auth_cache_total: hit, shared, miss

    async def verdict(
        self,
        cookie: bytes | None,
        *,
        peer_ip: bytes = b"-",
        tls: bool = False,
        request_id: bytes = b"-",
    ) -> Verdict:
        """The verdict on `cookie`, a value made by `session_cookie`."""
        if not cookie:
            return NO_COOKIE  # no cookie, no session: no need to ask
        now = self._now()
        cached = self._cache.get(cookie)
        if cached is not None:
            if cached[0] > now:
                self.results.add(_HIT)
                trace.verify_cached(cached[1].user)
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
        return await self._ask(cookie, now, peer_ip, tls, request_id)

    def forget(self, cookie: bytes | None) -> None:
        """A logout of this cookie's session passed through: drop its verdict."""
        self._forgets += 1
        if cookie:
            self._cache.pop(cookie, None)

    def forget_user(self, user: bytes) -> None:
        """All of `user`'s sessions were revoked: drop every verdict naming them. A scan,
        not an index: it happens once per "log out everywhere", on a bounded cache."""
        self._forgets += 1
        for cookie in [c for c, (_, session) in self._cache.items() if session.user == user]:
            del self._cache[cookie]

    async def _ask(
        self, cookie: bytes, now: float, peer_ip: bytes, tls: bool, request_id: bytes
    ) -> Verdict:
        answer: asyncio.Future[Verdict] = self._loop.create_future()
        self._asking[cookie] = answer
        forgets = self._forgets
        try:
            verdict = await self._verify(cookie, now, peer_ip, tls, request_id)
        except BaseException as exc:
            answer.set_exception(exc if isinstance(exc, errors.ProxyError) else _AskerGone())
            answer.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            del self._asking[cookie]
        answer.set_result(verdict)
        if (
            isinstance(verdict, Session)
            and self._cache_size
            and self._cache_ttl > 0
            and forgets == self._forgets
        ):
            self._remember(cookie, verdict, now)
        return verdict

    async def _verify(
        self, cookie: bytes, now: float, peer_ip: bytes, tls: bool, request_id: bytes
    ) -> Verdict:
        headers = [
            (b"Host", b"auth"),
            (b"Cookie", cookie),
            (b"X-Forwarded-For", peer_ip),
            (b"X-Forwarded-Proto", b"https" if tls else b"http"),
            (REQUEST_ID, request_id),
        ]
        if self._token is not None:
            headers.append((b"X-Gatehouse-Token", self._token))
        head = encode_request_head(b"GET", b"/verify", headers)
        trace.verify_request(head)
        lease = await send(self._replicas, b"GET", head)
        with lease:
            await lease.exchange.relay_all(DISCARD)
        response = lease.exchange.head
        trace.verify_response(response)
        if response.status in (401, 403):
            return Refusal(get(response.headers, b"x-auth-reason") or b"")
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
