"""Who may ask, and the headers every HTML page carries.

Only the proxy may talk to this service (issue 10: any local process could fetch
/secret.html from the content port). It sends `X-Gatehouse-Token`; without the right
one a request gets 403, except the health and metrics endpoints an operator or an
orchestrator asks (CONTRACT.md).
"""

from __future__ import annotations

import hmac
import re

Headers = list[tuple[bytes, bytes]]

TOKEN_FIELD = b"x-gatehouse-token"
REQUEST_ID_FIELD = b"x-request-id"

# Answered before the token check and before any file lookup, so a site file of the
# same name never shadows them.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# The request ids the proxy makes or keeps (issue 11); anything else is not logged,
# so a direct caller cannot write arbitrary text into our log lines.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def token_allows(expected: bytes | None, presented: bytes | None) -> bool:
    """True when no token is configured, or the request carries exactly that token.

    hmac.compare_digest takes the same time wherever the first difference is, so the
    answer does not leak the token byte by byte. A repeated field arrives combined
    (`a, b`) and so never matches.
    """
    if expected is None:
        return True
    return presented is not None and hmac.compare_digest(presented, expected)


def request_id(value: bytes | None) -> str:
    """The request id to log: the proxy's X-Request-ID when well formed, else ''."""
    if value is None or not _REQUEST_ID.fullmatch(value):
        return ""
    return value.decode("ascii")


# The shipped pages load everything from this origin: one stylesheet, images, one audio
# clip, and no scripts or inline styles at all, so no hashes are needed. `img-src data:`
# leaves room for small inline icons in the stylesheet. frame-ancestors 'none' is the
# CSP form of X-Frame-Options: DENY (clickjacking); both are sent for older browsers.
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    b"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
NOSNIFF = (b"x-content-type-options", b"nosniff")

# Every HTML response: the site's pages, and the 403 and 404 pages.
HTML_HEADERS: Headers = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    NOSNIFF,
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
