"""The shipped pages work under their Content-Security-Policy, in real headless Chromium.

The service serves the shipped site directly (no proxy, no login): every page must
render with its stylesheet, pictures and audio, and the browser must report no policy
violation and no console error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support import Service, free_port

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "content.log"
    svc = Service("content_service", port, {"CONTENT_PORT": str(port)}, log)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize(
    ("path", "status", "images"),
    [("/", 200, 1), ("/secret.html", 200, 5), ("/no-such-page", 404, 1)],
    ids=["login", "story", "not-found"],
)
def test_page_renders_without_violations(
    shipped: Service, browser: Browser, path: str, status: int, images: int
) -> None:
    page = browser.new_page()
    try:
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        # Recorded from the start, before any of the page's own content runs.
        page.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        response = page.goto(f"http://127.0.0.1:{shipped.port}{path}")
        assert response is not None and response.status == status
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        page.wait_for_load_state("load")
        if path == "/secret.html":
            page.wait_for_function("document.querySelector('audio').readyState >= 1")
        # The stylesheet applied: the card has its white background.
        card = page.eval_on_selector("main.card", "e => getComputedStyle(e).backgroundColor")
        assert card == "rgb(255, 255, 255)"
        loaded = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length"
        )
        assert loaded == images
        assert page.evaluate("window.__violations") == []
        # The 404 page's own status shows as a console error; nothing else may.
        assert [m for m in problems if "404" not in m] == []
    finally:
        page.close()
