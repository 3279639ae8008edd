"""A real browser against the real stack: headless Chromium (Debian) driven by Playwright.

The browser is Debian's `chromium` (the Makefile installs it); Playwright's own browser
downloads are never used. Without /usr/bin/chromium the browser tests are skipped.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.conftest import Stack, running_stack
from tests.support import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SESSION_TTL = 6  # seconds: short, so the countdown test sees the session expire
SCREENSHOTS = REPO / "artifacts" / "screenshots"
DOCS_SCREENSHOT = REPO / "docs" / "story.png"
UPDATE_DOCS = os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1"

# 2026-12-02T18:12:55.123Z 127.0.0.1 worker=1 conn=3 req=2 id=4f0c1a2b-7
#   "GET /images/coast.jpg HTTP/1.1" 200 12345 1.2ms user=alice cache=-   (one line)
ACCESS_LINE = re.compile(
    r'^.*? conn=(?P<conn>\d+) req=(?P<req>\d+) .*?"(?P<method>\S+) (?P<target>\S+) HTTP/[\d.]+" '
    r"(?P<status>\d{3}) (?P<size>\d+) \S+ user=(?P<user>\S+) cache=(?P<cache>\S+)"
)


@dataclass(frozen=True)
class Access:
    conn: int
    req: int
    method: str
    path: str
    status: int
    user: str


class AccessLog:
    """The proxy's access log, read as parsed lines; `mark()` + `since()` give one window."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def lines(self) -> list[Access]:
        out = []
        for line in self._stack.proxy_log().splitlines():
            m = ACCESS_LINE.match(line.strip())
            if m:
                out.append(
                    Access(
                        conn=int(m["conn"]),
                        req=int(m["req"]),
                        method=m["method"],
                        path=m["target"],
                        status=int(m["status"]),
                        user=m["user"],
                    )
                )
        return out

    def mark(self) -> int:
        return len(self.lines())

    def since(self, mark: int) -> list[Access]:
        return self.lines()[mark:]

    def wait_since(
        self, mark: int, done: Callable[[list[Access]], bool], timeout: float = 10.0
    ) -> list[Access]:
        """The lines after `mark`, once `done(lines)` holds (the log is written per response)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.since(mark)
            if done(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package (make test does)")
    with running_stack(
        tmp_path_factory.mktemp("browser-stack"), auth_env={"SESSION_TTL": str(SESSION_TTL)}
    ) as s:
        yield s


@pytest.fixture
def access_log(stack: Stack) -> AccessLog:
    return AccessLog(stack)


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context per test: its own cookies, cache and connections."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path
