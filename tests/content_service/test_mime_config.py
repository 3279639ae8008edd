"""Media types, gzip negotiation and settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from content_service.config import DEFAULT_MEMORY_MAX, SHIPPED_SITE, ConfigError, Settings
from content_service.encoding import accepts_gzip
from content_service.mime import content_type_for, is_compressible
from tests.support import REPO


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


def test_settings_defaults() -> None:
    s = Settings.from_env({})
    assert s.content_root == SHIPPED_SITE
    assert s.content_root.is_absolute()
    assert (s.bind, s.port, s.memory_max) == ("127.0.0.1", 8002, DEFAULT_MEMORY_MAX)


def test_settings_from_env(tmp_path: Path) -> None:
    env = {
        "CONTENT_ROOT": str(tmp_path),
        "CONTENT_BIND": "0.0.0.0",
        "CONTENT_PORT": "9000",
        "CONTENT_MEMORY_MAX": "2048",
    }
    s = Settings.from_env(env)
    assert (s.content_root, s.bind, s.port, s.memory_max) == (tmp_path, "0.0.0.0", 9000, 2048)
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]  # frozen


def test_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "www").mkdir()
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"CONTENT_ROOT": "www"}).content_root == tmp_path / "www"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        pytest.param({"CONTENT_ROOT": "/nonexistent/gatehouse"}, "does not exist", id="missing"),
        pytest.param({"CONTENT_ROOT": __file__}, "not a directory", id="file"),
        pytest.param({"CONTENT_PORT": "http"}, "CONTENT_PORT must be an integer", id="port-text"),
        pytest.param({"CONTENT_PORT": "70000"}, "CONTENT_PORT must be between", id="port-range"),
        pytest.param({"CONTENT_MEMORY_MAX": "-1"}, "CONTENT_MEMORY_MAX", id="memory"),
    ],
)
def test_settings_errors(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        Settings.from_env(env)


def test_main_exits_2_on_bad_root() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "content_service"],
        cwd=REPO,
        env={"CONTENT_ROOT": "/nonexistent/gatehouse", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "CONTENT_ROOT" in proc.stderr and "does not exist" in proc.stderr
