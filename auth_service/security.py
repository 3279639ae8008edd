"""Who is asking: the internal token, the request id, the client's address and scheme,
the CSRF origin check, and the headers every HTML page carries.

Only the proxy may talk to this service (issue 10: any local process could call /verify).
It sends `X-Gatehouse-Token`; without the right one a request gets 403, compared in
constant time, except the health and metrics endpoints an operator or orchestrator asks.
The proxy's `X-Forwarded-For` / `X-Forwarded-Proto` are believed only on such requests
(or when no token is configured, the old behaviour, with a warning at start).
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import ipaddress
import logging
import re
import urllib.parse

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_HEADER = "x-gatehouse-token"
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class RequestIdFilter(logging.Filter):
    """Adds ` request_id=...` to log lines written while serving a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id.get()
        record.request = f" request_id={rid}" if rid else ""
        return True


class Gate:
    """ASGI middleware: the token check, and the request id for the log lines."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # the last of repeated fields; fine for these
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id.set(rid if REQUEST_ID_RE.fullmatch(rid) else "")
        if self.token:
            given = headers.get(TOKEN_HEADER.encode(), b"")
            valid = hmac.compare_digest(given, self.token)
            exempt = scope["method"] in ("GET", "HEAD") and scope["path"] in EXEMPT
            if not valid and not exempt:
                response = PlainTextResponse(
                    "Forbidden: only the Gatehouse proxy may call this service.\n",
                    status_code=403,
                    headers={"Cache-Control": "no-store"},
                )
                await response(scope, receive, send)
                return
            believed = valid
        else:
            believed = True
        scope.setdefault("state", {})["trusted"] = believed
        await self.app(scope, receive, send)


def trusted(request: Request) -> bool:
    return bool(getattr(request.state, "trusted", False))


def client_address(request: Request) -> str:
    """The client's address: the proxy's X-Forwarded-For when trusted, else the peer.

    The proxy replaces whatever the client sent, so the header holds one address; if a
    chain ever arrives, the last entry is the one our proxy vouches for.
    """
    if trusted(request):
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    return trusted(request) and request.headers.get("x-forwarded-proto", "") == "https"


def cross_site(request: Request) -> bool:
    """True if the Origin (else Referer) names another site than this request's Host.

    Browsers send Origin on every POST (Fetch standard); a request with neither header,
    like curl's, is not a browser being tricked and passes. `Origin: null` (a sandboxed
    frame, a cross-origin redirect) is another site.
    """
    source = request.headers.get("origin")
    if source is None:
        referer = request.headers.get("referer")
        if referer is None:
            return False
        source = referer
    parts = urllib.parse.urlsplit(source.strip())
    host = request.headers.get("host", "")
    scheme = "https" if is_https(request) else "http"
    return (parts.scheme.lower(), parts.netloc.lower()) != (scheme, host.lower())


def script_hash(script: str) -> str:
    """A CSP source for one inline script (CSP level 2, section 4.2.4)."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def html_headers(script_sources: str) -> dict[str, str]:
    """The headers every HTML page carries (CONTRACT.md): no framing, no sniffing, no
    referrer to other sites, and scripts only from the hashes given."""
    csp = (
        "default-src 'self'; "
        f"script-src {script_sources}; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
