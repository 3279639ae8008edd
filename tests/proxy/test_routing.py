"""route(): which upstream serves a request and whether it needs a session."""

from __future__ import annotations

import pytest

from proxy import routing
from proxy.routing import SECRET_PAGE, Route, Upstream, route

AUTH, CONTENT = Upstream.AUTH, Upstream.CONTENT


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        # The auth service's pages.
        (b"POST", b"/login", Route(AUTH, public=True)),
        (b"POST", b"/logout", Route(AUTH, public=False, logout=True)),
        (b"GET", b"/cookie.html", Route(AUTH, public=False)),
        (b"HEAD", b"/cookie.html", Route(AUTH, public=False)),
        # Same paths, other methods: the content service, behind a session.
        (b"GET", b"/login", Route(CONTENT, public=False)),
        (b"HEAD", b"/login", Route(CONTENT, public=False)),
        (b"GET", b"/logout", Route(CONTENT, public=False)),
        (b"POST", b"/cookie.html", Route(CONTENT, public=False)),
        # The home page: public, but a session changes what it shows.
        (b"GET", b"/", Route(CONTENT, public=True, home=True)),
        (b"HEAD", b"/", Route(CONTENT, public=True, home=True)),
        (b"GET", b"/index.html", Route(CONTENT, public=True, home=True)),
        (b"POST", b"/", Route(CONTENT, public=False)),
        # Public files.
        (b"GET", b"/favicon.ico", Route(CONTENT, public=True)),
        (b"GET", b"/static/site.css", Route(CONTENT, public=True)),
        (b"GET", b"/static/css/deep/site.css", Route(CONTENT, public=True)),
        # Everything else needs a session, also paths that do not exist.
        (b"GET", b"/secret.html", Route(CONTENT, public=False)),
        (b"GET", b"/images/1.jpg", Route(CONTENT, public=False)),
        (b"GET", b"/no/such/page", Route(CONTENT, public=False)),
        (b"GET", b"/verify", Route(CONTENT, public=False)),
    ],
    ids=lambda v: v.decode() if isinstance(v, bytes) else None,
)
def test_route(method, path, expected):
    assert route(method, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(b"/static", id="no-slash"),
        pytest.param(b"/static/", id="directory"),
        pytest.param(b"/static/../secret.html", id="dot-dot"),
        pytest.param(b"/static/a/../../secret.html", id="dot-dot-deeper"),
        pytest.param(b"/static/./secret.html", id="dot"),
        pytest.param(b"/static//secret.html", id="empty-segment"),
        pytest.param(b"/static/css/", id="trailing-slash"),
        pytest.param(b"/static/%2e%2e/secret.html", id="encoded-dot-dot"),
        pytest.param(b"/static/%2E%2E/secret.html", id="encoded-dot-dot-upper"),
        pytest.param(b"/static%2f../secret.html", id="encoded-slash"),
        pytest.param(b"/static/..%2fsecret.html", id="dot-dot-encoded-slash"),
        pytest.param(b"/static/a.css%00", id="encoded-NUL"),
        pytest.param(b"/static/..\\secret.html", id="backslash"),
        pytest.param(b"/Static/site.css", id="case"),
        pytest.param(b"//static/site.css", id="leading-double-slash"),
        pytest.param(b"/favicon.ico/", id="favicon-slash"),
        pytest.param(b"/favicon.ico/../secret.html", id="favicon-dot-dot"),
        pytest.param(b"/FAVICON.ICO", id="favicon-case"),
        pytest.param(b"/index.html/", id="index-slash"),
        pytest.param(b"/index.html/../secret.html", id="index-dot-dot"),
    ],
)
def test_not_public(path):
    assert not route(b"GET", path).public


def test_secret_page():
    assert SECRET_PAGE == b"/secret.html"


def test_remembered_routes_are_bounded():
    # Paths come from the network: the memory of routes starts again when full, and the
    # answers stay the same.
    for n in range(1000):
        assert route(b"GET", b"/static/%d.png" % n).public
    assert len(routing._routes) <= 256
    assert not route(b"GET", b"/secret.html").public
