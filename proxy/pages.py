"""The proxy's own HTML pages for errors and refusals.

The CSS is inline so the pages render even when the content service (which owns the site's
stylesheet) is down.
"""

from __future__ import annotations

import html
from functools import lru_cache
from http import HTTPStatus

from proxy import errors
from proxy.headers import Headers

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{status} {phrase} · Gatehouse</title>
<style>
body {{ margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: #f4f1ea; color: #2b2a28; line-height: 1.5; }}
header {{ padding: 1rem 1.5rem; font-weight: 600; }}
header a {{ color: inherit; text-decoration: none; }}
main {{ max-width: 32rem; margin: 8vh auto; padding: 2rem; background: #fff;
  border-radius: 12px; box-shadow: 0 2px 14px rgba(0,0,0,.08); }}
.code {{ font-size: 3rem; font-weight: 700; color: #b0452f; margin: 0; }}
h1 {{ font-size: 1.4rem; margin: .25rem 0 1rem; }}
a.button {{ display: inline-block; margin-top: 1rem; padding: .6rem 1.2rem; border-radius: 8px;
  background: #2f5d62; color: #fff; text-decoration: none; }}
a.button:focus {{ outline: 3px solid #e0a458; outline-offset: 2px; }}
@media (max-width: 30rem) {{ main {{ margin: 1rem; padding: 1.25rem; }} }}
</style>
</head>
<body>
<header><a href="/">&#9961; Gatehouse</a></header>
<main>
<p class="code">{status}</p>
<h1>{title}</h1>
<p>{detail}</p>
<a class="button" href="/">{action}</a>
</main>
</body>
</html>
"""

_TITLES = {
    403: "Members only",
    404: "Page not found",
    502: "The site is having trouble",
    503: "Too busy right now",
    504: "The site is taking too long",
}


@lru_cache(maxsize=64)
def render(status: int, detail: str) -> bytes:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    action = "Go to the login page" if status in (401, 403) else "Back to the start page"
    return _TEMPLATE.format(
        status=status,
        phrase=html.escape(phrase),
        title=html.escape(_TITLES.get(status, phrase)),
        detail=html.escape(detail),
        action=action,
    ).encode()


def error_response(error: errors.ProxyError, connection: Headers) -> tuple[Headers, bytes]:
    """The header fields and HTML body of the response for an error."""
    body = render(error.status, error.detail)
    headers: Headers = [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Content-Length", b"%d" % len(body)),
        (b"Cache-Control", b"no-store"),
    ]
    if error.status == 503:
        headers.append((b"Retry-After", b"1"))
    return headers + connection, body
