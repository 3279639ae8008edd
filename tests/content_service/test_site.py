"""The shipped site: complete, small, and keeping the shared markup contract."""

from __future__ import annotations

import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from content_service.config import SHIPPED_SITE

HEADER = (
    '<header class="site-header"><a href="/"><img src="/static/logo.svg" alt="" '
    'width="32" height="32"> Gatehouse</a></header>'
)
IMAGES = ["coast", "mountains", "harbour", "sunset"]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(name: str) -> tuple[str, Tags]:
    text = (SHIPPED_SITE / name).read_text(encoding="utf-8")
    tags = Tags()
    tags.feed(text)
    return text, tags


def jpeg_size(path: Path) -> tuple[int, int]:
    """Width and height from the first SOFn segment of a JPEG."""
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no SOF segment")


@pytest.mark.parametrize("page", ["index.html", "secret.html", "404.html"])
def test_pages_share_header_card_and_stylesheet(page: str) -> None:
    text, tags = parse(page)
    assert HEADER in text
    assert '<main class="card' in text
    assert {"rel": "stylesheet", "href": "/static/style.css"} in tags.find("link")
    assert '<meta name="viewport"' in text and '<html lang="en">' in text


def test_login_form() -> None:
    text, tags = parse("index.html")
    assert '<form class="login" method="post" action="/login">' in text
    assert '<label for="userid">User ID</label>' in text
    assert '<label for="passwd">Password</label>' in text
    inputs = {attrs["id"]: attrs for attrs in tags.find("input")}
    assert inputs["userid"]["name"] == "userid" and "required" in inputs["userid"]
    assert inputs["userid"]["autocomplete"] == "username" and "autofocus" in inputs["userid"]
    assert inputs["passwd"]["type"] == "password" and "required" in inputs["passwd"]
    assert inputs["passwd"]["autocomplete"] == "current-password"
    assert '<button class="primary" type="submit">Log in</button>' in text
    assert "<script" not in text


def test_secret_page() -> None:
    text, tags = parse("secret.html")
    imgs = [a for a in tags.find("img") if (a["src"] or "").startswith("/images/")]
    assert [a["src"] for a in imgs] == [f"/images/{n}.jpg" for n in IMAGES]
    for attrs in imgs:
        assert attrs["alt"] and len(attrs["alt"]) > 10
        path = SHIPPED_SITE / (attrs["src"] or "").lstrip("/")
        assert jpeg_size(path) == (int(attrs["width"] or 0), int(attrs["height"] or 0))
    audio = tags.find("audio")
    assert audio == [{"controls": None, "preload": "metadata", "src": "/audio/intro.mp3"}]
    assert {"href": "/cookie.html"} in tags.find("a")
    assert '<form method="post" action="/logout"><button>Log out</button></form>' in text
    story = re.sub(r"<[^>]+>", " ", text.split("<main", 1)[1])
    assert len(story.split()) > 250  # a few real paragraphs


def test_404_page_links_home() -> None:
    text, tags = parse("404.html")
    assert "not found" in text.lower()
    assert any(a.get("href") == "/" for a in tags.find("a") if a.get("class"))


@pytest.mark.parametrize("name", IMAGES)
def test_images_are_reasonable_jpegs(name: str) -> None:
    path = SHIPPED_SITE / "images" / f"{name}.jpg"
    width, _height = jpeg_size(path)
    assert 800 <= width <= 1200
    assert path.stat().st_size < 200_000


def test_audio_favicon_logo() -> None:
    mp3 = (SHIPPED_SITE / "audio" / "intro.mp3").read_bytes()
    assert mp3[:3] == b"ID3" or mp3[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    assert 10_000 < len(mp3) < 100_000
    ico = (SHIPPED_SITE / "favicon.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00" and struct.unpack("<H", ico[4:6])[0] >= 1
    svg = (SHIPPED_SITE / "static" / "logo.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and 'viewBox="0 0 32 32"' in svg


def test_stylesheet_covers_the_contract() -> None:
    css = (SHIPPED_SITE / "static" / "style.css").read_text(encoding="utf-8")
    for selector in (".site-header", ".card", ".error", "form.login", "button.primary"):
        assert selector in css
    assert "@media (max-width:" in css and ":focus-visible" in css


def test_site_is_small_and_has_no_dotfiles() -> None:
    files = [p for p in SHIPPED_SITE.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 1_000_000
    assert not [p for p in files if any(part.startswith(".") for part in p.parts[-3:])]
