"""Media types and gzip negotiation."""

from __future__ import annotations

import pytest

from content_service.encoding import accepts_gzip
from content_service.mime import content_type_for, is_compressible


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("page.htm", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("logo.svg", "image/svg+xml"),
        ("photo.jpg", "image/jpeg"),
        ("photo.jpeg", "image/jpeg"),
        ("PHOTO.JPG", "image/jpeg"),
        ("icon.png", "image/png"),
        ("favicon.ico", "image/x-icon"),
        ("intro.mp3", "audio/mpeg"),
        ("intro.ogg", "audio/ogg"),
        ("data.json", "application/json"),
        ("archive.tar.gz", "application/octet-stream"),
        ("README", "application/octet-stream"),
        ("dir.d/file", "application/octet-stream"),
    ],
)
def test_content_type(name: str, expected: str) -> None:
    assert content_type_for(name) == expected


@pytest.mark.parametrize(
    ("content_type", "compressible"),
    [
        ("text/html; charset=utf-8", True),
        ("text/css; charset=utf-8", True),
        ("text/javascript; charset=utf-8", True),
        ("image/svg+xml", True),
        ("application/json", True),
        ("image/jpeg", False),
        ("audio/mpeg", False),
        ("application/octet-stream", False),
    ],
)
def test_compressible(content_type: str, compressible: bool) -> None:
    assert is_compressible(content_type) is compressible


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        pytest.param("gzip", True, id="gzip"),
        pytest.param("gzip, deflate, br, zstd", True, id="browser"),
        pytest.param("GZIP", True, id="case"),
        pytest.param("x-gzip", True, id="x-gzip"),
        pytest.param("gzip;q=0.5", True, id="low-q"),
        pytest.param("gzip;q=0", False, id="q-zero"),
        pytest.param("gzip; q=0.000", False, id="q-zero-decimals"),
        pytest.param("*", True, id="star"),
        pytest.param("*;q=0", False, id="star-refused"),
        pytest.param("*, gzip;q=0", False, id="explicit-gzip-beats-star"),
        pytest.param("deflate, br", False, id="not-listed"),
        pytest.param("identity", False, id="identity-only"),
        pytest.param("gzip;q=0.5, identity;q=1", False, id="identity-preferred"),
        pytest.param("gzip;q=1, identity;q=0.5", True, id="gzip-preferred"),
        pytest.param("", False, id="empty"),
        pytest.param("gzip;q=abc", False, id="bad-q"),
    ],
)
def test_accepts_gzip(header: str, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip
