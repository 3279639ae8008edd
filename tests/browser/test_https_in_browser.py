"""Headless Chromium over HTTPS: the proxy terminating TLS with a local CA's certificate
(trustme; the browser is told to accept it), the redirect listener, the Secure
`__Host-session` cookie, and the proxy's own pages rendering under their CSP.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from proxy import devcerts
from tests.browser.conftest import CHROMIUM
from tests.e2e.conftest import Stack, running_stack
from tests.support import free_port, wait_for_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package (make test does)")
    tmp = tmp_path_factory.mktemp("browser-https")
    certs = devcerts.write(tmp / "tls")
    redirect_port = free_port()
    proxy_env = {
        "PROXY_TLS_CERT": str(certs.cert),
        "PROXY_TLS_KEY": str(certs.key),
        "PROXY_HTTP_REDIRECT_PORT": str(redirect_port),
    }
    with running_stack(tmp, proxy_env=proxy_env) as s:
        wait_for_port(redirect_port, s.proxy.proc)
        s.redirect_port = redirect_port  # type: ignore[attr-defined]
        s.tls = ssl.create_default_context(cafile=str(certs.ca))  # Stack.url is https now
        yield s


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(ignore_https_errors=True)  # the local CA is not in Chromium's store
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


def test_plain_http_is_redirected_to_https(page: Page, stack):
    response = page.goto(f"http://127.0.0.1:{stack.redirect_port}/")
    assert page.url == stack.url + "/"
    assert response is not None and response.status == 200
    assert response.all_headers()["strict-transport-security"] == "max-age=31536000"
    expect(page.locator("form.login")).to_be_visible()


def test_the_proxys_refusal_page_renders_under_its_csp(page: Page, stack):
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if m.type == "error" else None)
    response = page.goto(stack.url + "/secret.html")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Members only")
    # The inline style sheet applied (allowed by its hash): the card is white on the page.
    card = page.locator("main.card")
    assert card.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    assert page.locator(".site-header svg").bounding_box()["width"] == 32
    assert [v for v in violations if "Content Security Policy" in v] == []


def test_login_over_https_sets_the_secure_host_cookie(page: Page, stack, context):
    page.goto(stack.url + "/")
    page.get_by_label("User ID").fill(stack.userid)
    page.get_by_label("Password").fill(stack.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")
    names = {c["name"]: c for c in context.cookies()}
    cookie = names["__Host-session"]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/"
    page.wait_for_url(stack.url + "/secret.html")
    expect(page.locator("h1")).to_contain_text("Coast to peaks")
    images = page.evaluate(
        "Promise.all([...document.querySelectorAll('main img')].map((i) => i.decode()"
        ".then(() => i.naturalWidth)))"
    )
    assert len(images) == 4 and all(w > 0 for w in images)
