"""Bodies the service answers with when no file does."""

from __future__ import annotations

# Used when the content root has no 404.html of its own. It links the shared
# stylesheet, which may be missing too; the page stays readable without it.
BUILTIN_404 = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Page not found - Gatehouse</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header class="site-header"><a href="/">Gatehouse</a></header>
<main class="card">
<h1>Page not found</h1>
<p>There is nothing at this address.</p>
<p><a href="/">Back to the start page</a></p>
</main>
</body>
</html>
"""

# The answer to a request without the proxy's X-Gatehouse-Token (issue 10).
BUILTIN_403 = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forbidden - Gatehouse</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header class="site-header"><a href="/">Gatehouse</a></header>
<main class="card">
<h1>Forbidden</h1>
<p>This service answers only the Gatehouse proxy. Open the site through the proxy.</p>
</main>
</body>
</html>
"""

TEXT_PLAIN = b"text/plain; charset=utf-8"
TEXT_HTML = b"text/html; charset=utf-8"

REASONS: dict[int, bytes] = {
    400: b"Bad Request\n",
    405: b"Method Not Allowed\n",
    412: b"Precondition Failed\n",
    416: b"Range Not Satisfiable\n",
    503: b"Service Unavailable: try again shortly.\n",
}
