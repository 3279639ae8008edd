"""Fixtures for the content service: a content root in tmp and the real service on it."""

from __future__ import annotations

import http.client
import os
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import Service, free_port, recv_until_closed

SECRET_MARKER = b"TOP-SECRET-OUTSIDE-THE-ROOT"
TOKEN = "test-internal-token"
BIG_SIZE = 5 * 1024 * 1024 + 123  # not a multiple of any chunk size

# A page of about 1.4 KB, like the login page the benchmark uses.
PAGE = (
    "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>Test page</title></head>\n"
    "<body><main class=card><h1>Hello, traveller</h1>\n"
    + "<p>The coast path winds past coves and headlands on its way to the harbour.</p>\n" * 16
    + "</main></body></html>\n"
).encode()


@dataclass
class Site:
    root: Path
    outside: Path  # a directory next to the root holding the secret file
    big: bytes


def build_site(base: Path) -> Site:
    root = base / "site"
    outside = base / "outside"
    (root / "static").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "docs").mkdir()
    (root / "empty").mkdir()
    (root / ".git").mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET_MARKER + b"\n")
    (base / "secret").write_bytes(SECRET_MARKER + b"\n")

    (root / "index.html").write_bytes(PAGE)
    (root / "404.html").write_bytes(b"<!doctype html><title>Not here</title><h1>Custom 404</h1>\n")
    (root / "static" / "style.css").write_bytes(b"body { color: #123; }\n" * 40)
    (root / "static" / "app.js").write_bytes(b"console.log('hello');\n" * 30)
    (root / "static" / "logo.svg").write_bytes(
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
        + b'<rect width="10" height="10" fill="#1f5e66"/>' * 8
        + b"</svg>\n"
    )
    (root / "hello.txt").write_bytes(b"0123456789" * 10)  # 100 bytes
    (root / "tiny.txt").write_bytes(b"x")  # gzip would not be smaller
    (root / "empty.txt").write_bytes(b"")
    (root / "images" / "photo.jpg").write_bytes(random.Random(1).randbytes(4000))
    (root / "audio.mp3").write_bytes(random.Random(2).randbytes(3000))
    (root / "favicon.ico").write_bytes(b"\x00\x00\x01\x00" + bytes(60))
    (root / "docs" / "index.html").write_bytes(b"<!doctype html><h1>Docs</h1>\n")
    (root / ".env").write_bytes(SECRET_MARKER)
    (root / ".git" / "config").write_bytes(SECRET_MARKER)
    (root / "UPPER.JPG").write_bytes(b"\xff\xd8\xff" + bytes(10))
    big = random.Random(3).randbytes(BIG_SIZE)
    (root / "big.bin").write_bytes(big)

    # Symlinks: one leading out of the root, one to a dotfile, one that stays inside.
    (root / "link-out").symlink_to(outside / "secret.txt")
    (root / "dir-out").symlink_to(outside, target_is_directory=True)
    (root / "link-dot").symlink_to(root / ".env")
    (root / "link-in.txt").symlink_to(root / "hello.txt")
    return Site(root, outside, big)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("content"))


def start(site: Site, tmp_path_factory: pytest.TempPathFactory, **env: str) -> Service:
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "content.log"
    env = {"CONTENT_PORT": str(port), "CONTENT_ROOT": str(site.root), **env}
    return Service("content_service", port, env, log)


@pytest.fixture(scope="module")
def service(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service without INTERNAL_TOKEN: it lets everyone in, as before."""
    svc = start(site, tmp_path_factory)
    try:
        yield svc
    finally:
        svc.stop()
    # Whatever the tests did, the service must not have logged a traceback.
    assert "Traceback" not in svc.output(), svc.output()


@pytest.fixture(scope="module")
def guarded(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service with INTERNAL_TOKEN=TOKEN."""
    svc = start(site, tmp_path_factory, INTERNAL_TOKEN=TOKEN)
    try:
        yield svc
    finally:
        svc.stop()
    assert "Traceback" not in svc.output(), svc.output()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def raw_request(port: int, request: bytes) -> tuple[int, bytes, bytes]:
    """Send bytes as they are (no client-side normalisation); return status, head, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), head, body


def set_mtime(path: Path, seconds: float) -> None:
    ns = int(seconds * 1e9)
    os.utime(path, ns=(ns, ns))
