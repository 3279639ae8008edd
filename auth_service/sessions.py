"""Session cookies: a random session id, signed and timestamped with itsdangerous.

The cookie value is `id.timestamp.signature` (`TimestampSigner`, HMAC-SHA1 over the id
and the issue time). The signature and the age are checked first, so forged or stale
cookies never reach the store; the store then says whether the session was revoked.

Keys rotate without logging anyone out: `SECRET_KEYS` lists them newest first; the
newest signs, every listed key verifies (oauth2-proxy #963 is the one-key alternative).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner

COOKIE_NAME = "session"
# Under TLS: the __Host- prefix makes browsers refuse the cookie unless it is Secure,
# has Path=/ and no Domain, so a sibling subdomain cannot plant one (RFC 6265bis 4.1.3.2).
SECURE_COOKIE_NAME = "__Host-session"
# Separates these signatures from any other use of the same keys.
SALT = "gatehouse.session"
# The proxy sends at most two values; a client stuffing hundreds into one header must not
# make us check them all (issue 10: 280 values cost every user 10x latency).
MAX_VALUES = 2

SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{32}")


def new_session_id() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits, 32 characters


@dataclass(frozen=True)
class Signed:
    session_id: str
    issued: int  # the signed timestamp, whole Unix seconds
    seconds_left: int  # > 0


class _ClockSigner(TimestampSigner):
    """A TimestampSigner whose clock can be replaced (tests move time forward)."""

    def __init__(self, secret_keys: Sequence[str], now: Callable[[], float]) -> None:
        # itsdangerous takes the newest key *last*; SECRET_KEYS lists it first.
        super().__init__(list(reversed(secret_keys)), salt=SALT)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now())


class SessionSigner:
    """Signs session ids and checks signed values for one key list and TTL."""

    def __init__(
        self, secret_keys: Sequence[str], ttl: int, *, now: Callable[[], float] = time.time
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        if not secret_keys:
            raise ValueError("at least one key is needed")
        self.ttl = ttl
        self._signer = _ClockSigner(secret_keys, now)

    def now(self) -> int:
        return self._signer.get_timestamp()

    def sign(self, session_id: str) -> str:
        return self._signer.sign(session_id).decode("ascii")

    def issue(self, session_id: str) -> tuple[str, int]:
        """A cookie value for a new session, and the timestamp signed into it."""
        value = self.sign(session_id)
        _, signed_at = self._signer.unsign(value, return_timestamp=True)
        return value, int(signed_at.timestamp())

    def unsign(self, value: str) -> Signed | str:
        """The signed session, or why not: "invalid" or "expired"."""
        try:
            raw, signed_at = self._signer.unsign(value, return_timestamp=True)
        except (BadSignature, UnicodeError, ValueError):
            return "invalid"  # tampered, a retired or unknown key, or not ours at all
        session_id = raw.decode("ascii", errors="replace")
        if not SESSION_ID_RE.fullmatch(session_id):
            return "invalid"  # signed by us, so unexpected: refuse rather than trust it
        issued = int(signed_at.timestamp())
        age = self.now() - issued
        if age < 0:
            return "invalid"  # issued in the future: not by this clock
        # Timestamps are whole seconds; refusing at age == ttl means a cookie is never
        # honoured longer than the Max-Age it was issued with.
        seconds_left = self.ttl - age
        if seconds_left <= 0:
            return "expired"
        return Signed(session_id, issued, seconds_left)


def cookie_values(
    cookie_headers: list[str], name: str = COOKIE_NAME, limit: int = MAX_VALUES
) -> list[str]:
    """The first `limit` values of cookie `name` in the request's Cookie header(s).

    A browser may send several cookies with one name (e.g. set for different paths,
    RFC 6265 section 5.4), so callers try each of the first two instead of picking one.
    """
    values: list[str] = []
    for header in cookie_headers:
        for pair in header.split(";"):
            key, sep, value = pair.partition("=")
            if sep and key.strip() == name:
                values.append(value.strip().strip('"'))
                if len(values) >= limit:
                    return values
    return values
