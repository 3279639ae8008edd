"""Signed, self-expiring session cookies.

The cookie value is `userid.timestamp.signature` made by itsdangerous's
`TimestampSigner` (HMAC over the user id and the issue time). Nothing is kept on
the server, so the age check has to happen here: a client that ignores Max-Age
and replays an old cookie is refused once SESSION_TTL seconds have passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner

from auth_service.users import USERID_RE

COOKIE_NAME = "session"
# Separates these signatures from any other use of the same SECRET_KEY.
SALT = "gatehouse.session"


@dataclass(frozen=True)
class Session:
    userid: str
    seconds_left: int  # whole seconds until the server stops accepting it, >= 0


class _ClockSigner(TimestampSigner):
    """A TimestampSigner whose clock can be replaced (tests move time forward)."""

    def __init__(self, secret_key: str, now: Callable[[], float]) -> None:
        super().__init__(secret_key, salt=SALT)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now())


class SessionManager:
    """Issues and checks session cookie values for one secret key and TTL."""

    def __init__(self, secret_key: str, ttl: int, *, now: Callable[[], float] = time.time) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.ttl = ttl
        self._signer = _ClockSigner(secret_key, now)

    def issue(self, userid: str) -> str:
        """A fresh cookie value for `userid`, valid for `ttl` seconds from now."""
        if not USERID_RE.fullmatch(userid):
            raise ValueError(f"invalid user ID {userid!r}")
        return self._signer.sign(userid).decode("ascii")

    def verify(self, value: str | None) -> Session | None:
        """The session in `value`, or None if it is missing, forged or too old."""
        if not value:
            return None
        try:
            raw, signed_at = self._signer.unsign(value, max_age=self.ttl, return_timestamp=True)
        except (BadSignature, UnicodeError, ValueError):
            # BadSignature covers tampering, a wrong key, malformed values and
            # SignatureExpired (too old, or issued in the future).
            return None
        age = self._signer.get_timestamp() - int(signed_at.timestamp())
        # Timestamps are whole seconds, so itsdangerous still accepts age == ttl,
        # which can be almost a second past Max-Age. Refusing at age == ttl means
        # a cookie is never honoured longer than the TTL it was issued with.
        seconds_left = self.ttl - age
        if seconds_left <= 0:
            return None
        userid = raw.decode("ascii", errors="replace")
        if not USERID_RE.fullmatch(userid):
            return None  # signed by us, so unexpected; refuse rather than trust it
        return Session(userid=userid, seconds_left=seconds_left)


def cookie_values(cookie_headers: list[str], name: str = COOKIE_NAME) -> list[str]:
    """Every value of cookie `name` in the request's Cookie header(s), in order.

    A browser may send several cookies with one name (e.g. set for different
    paths, RFC 6265 section 5.4), so callers try each instead of picking one.
    """
    values = []
    for header in cookie_headers:
        for pair in header.split(";"):
            key, sep, value = pair.partition("=")
            if sep and key.strip() == name:
                values.append(value.strip().strip('"'))
    return values
