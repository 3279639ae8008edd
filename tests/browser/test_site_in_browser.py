"""The site as a person sees it: headless Chromium through the proxy of the real stack.

Each test gets a fresh browser context (cookies, cache and connections of its own). The
screenshots land in artifacts/screenshots/ (git-ignored); with UPDATE_DOCS_SCREENSHOT=1 the
story page is also written to docs/story.png, the picture the README shows.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from playwright.sync_api import BrowserContext, Page, Response, expect

from tests.browser.conftest import (
    DOCS_SCREENSHOT,
    SESSION_TTL,
    UPDATE_DOCS,
    Access,
    screenshot,
)
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.timeout(60)

IMAGES = ["/images/coast.jpg", "/images/mountains.jpg", "/images/harbour.jpg", "/images/sunset.jpg"]
AUDIO = "/audio/intro.mp3"

ALL_IMAGES_DECODED = """() => {
  const imgs = [...document.querySelectorAll('main img')];
  return imgs.length === 4 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""
AUDIO_METADATA_LOADED = """() => {
  const a = document.querySelector('audio');
  return a !== null && a.readyState >= 1 && a.duration > 0;
}"""


def log_in(page: Page, stack: Stack, password: str | None = None) -> Response:
    """Fill in and submit the login form; return the response to the POST."""
    page.goto(stack.url + "/")
    page.get_by_label("User ID").fill(stack.userid)
    page.get_by_label("Password").fill(password if password is not None else stack.password)
    with page.expect_response(lambda r: r.url == stack.url + "/login") as answer:
        page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")
    return answer.value


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def session_cookies(context: BrowserContext) -> list[dict]:
    return [c for c in context.cookies() if c["name"] == "session"]


def test_wrong_password_shows_the_error(page, stack, context):
    page.goto(stack.url + "/")
    expect(page.locator("form.login")).to_be_visible()
    expect(page.get_by_label("User ID")).to_be_focused()  # autofocus: type straight away
    screenshot(page, "login")

    answer = log_in(page, stack, password="not the password")

    assert answer.status == 401
    expect(page.get_by_role("alert")).to_contain_text("Wrong user ID or password")
    expect(page.locator("form.login")).to_be_visible()  # can try again at once
    assert session_cookies(context) == []
    screenshot(page, "failed-login")


def test_right_password_lands_on_the_story_with_images_and_audio(page, stack, context):
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r))
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    answer = log_in(page, stack)

    assert answer.status == 303
    page.wait_for_url(stack.url + "/secret.html")
    assert len(session_cookies(context)) == 1
    expect(page.locator("h1")).to_contain_text("Coast to peaks")

    page.wait_for_function(ALL_IMAGES_DECODED)
    decoded = page.evaluate(
        "[...document.querySelectorAll('main img')].map((i) => [new URL(i.src).pathname,"
        " i.naturalWidth, i.naturalHeight])"
    )
    assert sorted(path for path, _, _ in decoded) == sorted(IMAGES)
    assert all(w > 0 and h > 0 for _, w, h in decoded), decoded

    page.wait_for_function(AUDIO_METADATA_LOADED)
    assert page.evaluate("document.querySelector('audio').duration") > 1

    def audio_206() -> list[Response]:
        return [r for r in responses if r.url == stack.url + AUDIO and r.status == 206]

    wait_until(lambda: audio_206())
    partial = audio_206()[0]
    assert partial.request.all_headers().get("range", "").startswith("bytes=")
    assert partial.all_headers()["content-range"].startswith("bytes ")
    assert partial.all_headers()["content-type"] == "audio/mpeg"

    assert [(r.status, r.url) for r in responses if r.status >= 400] == []
    assert console_errors == []

    path = screenshot(page, "story")
    if UPDATE_DOCS:
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(path.read_bytes())


def test_story_fits_a_phone_width(page, stack):
    log_in(page, stack)
    page.set_viewport_size({"width": 375, "height": 812})
    page.wait_for_function(ALL_IMAGES_DECODED)
    layout = page.evaluate(
        """() => ({
          scrollWidth: document.documentElement.scrollWidth,
          widest: Math.max(...[...document.querySelectorAll('main *')]
                             .map((e) => e.getBoundingClientRect().right)),
        })"""
    )
    screenshot(page, "story-375")
    assert layout["scrollWidth"] <= 375, layout  # no sideways scrolling
    assert layout["widest"] <= 375.5, layout  # nothing (images included) sticks out


def test_cookie_page_counts_down_then_lands_on_403(page, stack):
    log_in(page, stack)
    first = page.goto(stack.url + "/cookie.html")
    assert first.status == 200
    expect(page.locator("h1")).to_have_text(f"Hello {stack.userid}")
    expect(page.locator("main")).to_contain_text("seconds left")

    before = int(page.locator("#seconds-left").inner_text())
    screenshot(page, "cookie")
    page.wait_for_timeout(1500)
    after = int(page.locator("#seconds-left").inner_text())
    assert 0 <= after < before <= SESSION_TTL, (before, after)

    # At zero the page reloads itself; by then the session is over: the proxy's 403 page.
    refused = page.wait_for_event(
        "response",
        lambda r: r.url == stack.url + "/cookie.html" and r.status == 403,
        timeout=(after + 4) * 1000,
    )
    assert refused.status == 403
    page.wait_for_load_state("load")
    expect(page.locator("body")).to_contain_text("403")
    expect(page.locator('a[href="/"]').first).to_be_visible()
    screenshot(page, "403")

    again = page.reload()
    assert again.status == 403


def test_keep_alive_carries_many_requests_per_connection(context, stack, access_log):
    """Three uncached loads of the story page: every request is in the log, on few connections.

    One cold load alone shows little: Chromium opens up to six connections per host at once
    for the images. Across loads, though, it reuses them, so the request count grows and the
    connection count does not (with keep-alive broken, every request would be a connection).
    """
    # Log in outside the browser, so the loads below start with no open connection.
    name, value = stack.login().split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": stack.url}])
    page = context.new_page()
    context.new_cdp_session(page).send("Network.setCacheDisabled", {"cacheDisabled": True})
    # Public files may be reused from the browser's cache for their max-age; the protected
    # ones are revalidated through the proxy on every load (private, no-cache).
    wanted = {"/secret.html", *IMAGES, AUDIO}
    loads = 3

    mark = access_log.mark()
    for n in range(loads):
        assert page.goto(stack.url + "/secret.html").status == 200
        page.wait_for_function(ALL_IMAGES_DECODED)
        page.wait_for_function(AUDIO_METADATA_LOADED)
        lines: list[Access] = access_log.wait_since(
            mark, lambda ls, n=n: all(sum(a.path == p for a in ls) > n for p in wanted)
        )

    per_conn = Counter(a.conn for a in lines)
    report = f"{len(lines)} requests on {len(per_conn)} connections: {dict(per_conn)}"
    print(report)
    for path in wanted:
        assert sum(a.path == path for a in lines) >= loads, (path, report)
    assert len(lines) >= loads * len(wanted), report
    assert len(per_conn) <= 6 + 2, report  # Chromium's per-host limit, plus a little slack
    assert len(per_conn) * 3 <= len(lines), report
    assert max(a.req for a in lines) >= 4, report


def test_missing_file_after_login_is_the_404_page(page, stack):
    log_in(page, stack)
    missing = page.goto(stack.url + "/no-such-page.html")
    assert missing.status == 404
    expect(page.locator("h1")).to_contain_text("not found")
    expect(page.locator('main a[href="/"]')).to_be_visible()
    screenshot(page, "404")


@pytest.mark.parametrize("start", ["/secret.html", "/cookie.html"])
def test_logout_returns_to_login_and_locks_the_pages(page, stack, context, start):
    log_in(page, stack)
    assert page.goto(stack.url + start).status == 200

    page.get_by_role("button", name="Log out", exact=True).click()

    page.wait_for_url(stack.url + "/")
    expect(page.locator("form.login")).to_be_visible()
    assert session_cookies(context) == []
    for path in ["/secret.html", "/cookie.html", IMAGES[0], AUDIO]:
        assert page.goto(stack.url + path).status == 403, path
    expect(page.locator("body")).to_contain_text("403")


def test_favicon_is_requested_and_served(page, stack, access_log):
    mark = access_log.mark()
    page.goto(stack.url + "/")
    lines = access_log.wait_since(mark, lambda ls: any(a.path == "/favicon.ico" for a in ls))
    icons = [a for a in lines if a.path == "/favicon.ico"]
    assert icons, "the browser never asked for /favicon.ico"
    assert all(a.status in (200, 304) for a in icons), icons
    everything = access_log.lines()
    assert not [a for a in everything if a.path == "/favicon.ico" and a.status == 404]
