"""HTML pages at the template level (ids like `a<b` cannot log in, so test escaping here)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from auth_service import pages
from tests.support import REPO

SHELL = [
    '<link rel="stylesheet" href="/static/style.css">',
    '<link rel="icon" href="/favicon.ico" sizes="any">',
    '<header class="site-header"><a href="/"><img src="/static/logo.svg" alt="" width="32"'
    ' height="32"> Gatehouse</a></header>',
    '<main class="card',
]


def test_cookie_page_escapes_userid():
    page = pages.cookie_page('<script>alert("x")</script>&', 7)
    assert "<script>alert" not in page
    assert "Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page


def test_cookie_page_content():
    page = pages.cookie_page("alice", 17)
    assert "Hello alice" in page
    assert '<span id="seconds-left">17</span> seconds left until your cookie expires.' in page
    assert '<form class="logout" method="post" action="/logout">' in page
    assert '<input type="hidden" name="everywhere" value="1">' in page
    assert "Log out everywhere" in page
    assert f"<script>{pages.COUNTDOWN_SCRIPT}</script>" in page
    assert "location.reload()" in page
    for part in SHELL:
        assert part in page


def test_login_page_form_and_error_escaping():
    page = pages.login_page("<b>bad</b>")
    assert '<p class="error" role="alert">&lt;b&gt;bad&lt;/b&gt;</p>' in page
    assert '<form class="login" method="post" action="/login">' in page
    assert (
        '<label for="userid">User ID</label>\n<input id="userid" name="userid"'
        ' autocomplete="username" required autofocus>'
    ) in page
    assert (
        '<label for="passwd">Password</label>\n<input id="passwd" name="passwd" type="password"'
        ' autocomplete="current-password" required>'
    ) in page
    assert '<button class="primary" type="submit">Log in</button>' in page
    for part in SHELL:
        assert part in page
    assert 'class="error"' not in pages.login_page()


def test_no_unfilled_placeholders():
    for page in (
        pages.login_page("x"),
        pages.cookie_page("a", 1),
        pages.forbidden_page(),
        pages.forbidden_page(ended=True),
    ):
        assert not re.search(r"\$\w", page)


def test_the_csp_hash_is_the_inline_scripts():
    digest = hashlib.sha256(pages.COUNTDOWN_SCRIPT.encode()).digest()
    assert f"'sha256-{base64.b64encode(digest).decode()}'" == pages.SCRIPTS
    # The only inline script on any page is the one hashed.
    page = pages.cookie_page("a", 1)
    assert re.findall(r"<script>(.*?)</script>", page, re.S) == [pages.COUNTDOWN_SCRIPT]


def test_forbidden_page_says_why():
    assert "Your session has expired; log in again." in pages.forbidden_page(ended=True)
    assert "missing or invalid" in pages.forbidden_page()


@pytest.mark.parametrize(
    ("seconds", "text"), [(300, "try again in 5 min 0 s."), (42, "try again in 42 s."), (0, "1 s.")]
)
def test_banned_message_says_when(seconds, text):
    assert text in pages.banned_message(seconds)


def test_login_page_is_the_content_services_login_page():
    """The two copies must not drift apart: a failed login looks like the page it came from."""
    shipped = (REPO / "content_service" / "site" / "index.html").read_text()
    assert pages.login_page() == shipped
