"""The proxy's own HTML pages for errors and refusals.

They look like the rest of the site (content_service/site/static/style.css), but the CSS
and the logo are inline so the pages render even when the content service, which serves
the site's style sheet and logo, is down.
"""

from __future__ import annotations

import base64
import hashlib
import html
from functools import lru_cache
from http import HTTPStatus
from string import Template

from proxy import errors
from proxy.http1.headers import Headers, http_date

# content_service/site/static/logo.svg, decorative here: the name follows it in the link.
_LOGO = (
    '<svg viewBox="0 0 32 32" width="32" height="32" aria-hidden="true" focusable="false">'
    '<rect x="1" y="1" width="30" height="30" rx="7" fill="#1f5e66"/>'
    '<path d="M6.5 26.5V14a9.5 9.5 0 0 1 19 0v12.5z" fill="#faf1de"/>'
    '<path d="M11 26.5V16a5 5 0 0 1 10 0v10.5z" fill="#1f5e66"/>'
    '<path d="M13.5 14.8v11.7M16 13.2v13.3M18.5 14.8v11.7" stroke="#faf1de"'
    ' stroke-width="1.3"/>'
    '<path d="M5 26.5h22" stroke="#e0a458" stroke-width="1.6" stroke-linecap="round"/>'
    "</svg>"
)

# The rules of style.css these pages use, with the same colours and sizes.
_CSS = """
:root { --ink: #1d2b2f; --muted: #5b6b70; --paper: #fbf7ef; --line: #dfd8ca;
  --brand: #1f5e66; --brand-dark: #174a51; --focus: #f2a93b; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; background: var(--paper);
  background-image: linear-gradient(180deg, #e9f1ef 0, var(--paper) 18rem);
  color: var(--ink); font-size: 1.0625rem; line-height: 1.6;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", sans-serif; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 4px; }
.site-header { max-width: 46rem; margin: 0 auto; padding: 1.25rem 1.25rem 0.5rem; }
.site-header a { display: inline-flex; align-items: center; gap: 0.6rem;
  color: var(--brand-dark); font-weight: 700; font-size: 1.2rem; letter-spacing: 0.01em;
  text-decoration: none; }
.site-header svg { display: block; }
.card { max-width: 46rem; margin: 1rem auto 3rem; padding: 2rem 2.25rem; background: #fff;
  border: 1px solid var(--line); border-radius: 12px;
  box-shadow: 0 1px 2px rgb(29 43 47 / 6%), 0 8px 24px rgb(29 43 47 / 6%); }
.card.narrow { max-width: 26rem; }
.code { margin: 0 0 0.25rem; color: var(--brand); font-size: 2.5rem; font-weight: 700;
  line-height: 1.1; }
h1 { margin: 0 0 0.5rem; color: var(--brand-dark); font-size: 1.75rem; line-height: 1.25; }
p { margin: 0 0 1rem; }
.card > :last-child { margin-bottom: 0; }
.button.primary { display: inline-block; padding: 0.6rem 1.2rem; border: 1px solid var(--brand);
  border-radius: 8px; background: var(--brand); color: #fff; font-weight: 600;
  text-decoration: none; }
.button.primary:hover { border-color: var(--brand-dark); background: var(--brand-dark); }
@media (max-width: 40rem) {
  body { font-size: 1rem; }
  .site-header { padding: 0.9rem 1rem 0.25rem; }
  .card { margin: 0.5rem 0.5rem 2rem; padding: 1.25rem 1.1rem; border-radius: 10px; }
  h1 { font-size: 1.5rem; }
}
"""

# The pages run no script and load nothing: everything is denied but the one inline style
# sheet, allowed by its hash rather than 'unsafe-inline' (CSP3 §8.3: the hash is of the
# element's text exactly as served). The inline SVG logo is markup, not an image load, and
# its presentation attributes (fill, stroke) are not style attributes, so it needs nothing.
# frame-ancestors 'none' is the CSP form of X-Frame-Options: DENY (clickjacking).
_CSP = (
    b"default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_CSS.encode()).digest())
    + b"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Headers = [
    (b"Content-Security-Policy", _CSP),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"same-origin"),
    (b"X-Frame-Options", b"DENY"),
]

_TEMPLATE = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$status $phrase · Gatehouse</title>
<style>$css</style>
</head>
<body>
<header class="site-header"><a href="/">$logo Gatehouse</a></header>
<main class="card narrow">
<p class="code">$status</p>
<h1>$title</h1>
<p>$detail</p>
<p><a class="button primary" href="/">$action</a></p>
</main>
</body>
</html>
"""
)

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
    return _TEMPLATE.substitute(
        status=status,
        phrase=html.escape(phrase),
        css=_CSS,
        logo=_LOGO,
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
        (b"Date", http_date()),  # RFC 9110 §6.6.1: an origin with a clock sends it
        *SECURITY_HEADERS,
    ]
    if error.status == 503:
        headers.append((b"Retry-After", b"1"))
    return headers + connection, body
