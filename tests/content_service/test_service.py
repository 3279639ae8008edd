"""The real service as a process: what a browser, the proxy or an attacker would see."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.client
import signal
import socket
import time

import pytest

from tests.content_service.conftest import (
    BIG_SIZE,
    PAGE,
    SECRET_MARKER,
    Reply,
    Site,
    fetch,
    raw_request,
    set_mtime,
    start,
)
from tests.support import Service

pytestmark = pytest.mark.timeout(60)


def get(service: Service, path: str, **headers: str) -> Reply:
    return fetch(service.port, path, {k.replace("_", "-"): v for k, v in headers.items()})


def test_page_with_headers(service: Service) -> None:
    r = get(service, "/index.html")
    assert r.status == 200
    assert r.body == PAGE
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.header("Content-Length") == str(len(PAGE))
    assert r.header("Accept-Ranges") == "bytes"
    assert r.header("Vary") == "Accept-Encoding"
    assert r.header("Content-Encoding") is None
    etag = r.header("ETag")
    assert etag and etag.startswith('"') and etag.endswith('"')
    assert email.utils.parsedate_to_datetime(r.header("Last-Modified") or "") is not None
    assert r.header("Server") is None


@pytest.mark.parametrize(
    ("path", "file"),
    [("/", "index.html"), ("/docs", "docs/index.html"), ("/docs/", "docs/index.html")],
    ids=["root", "dir", "dir-slash"],
)
def test_directory_index(service: Service, site: Site, path: str, file: str) -> None:
    r = get(service, path)
    assert r.status == 200
    assert r.body == (site.root / file).read_bytes()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/logo.svg", "image/svg+xml"),
        ("/images/photo.jpg", "image/jpeg"),
        ("/UPPER.JPG", "image/jpeg"),
        ("/audio.mp3", "audio/mpeg"),
        ("/favicon.ico", "image/x-icon"),
        ("/hello.txt", "text/plain; charset=utf-8"),
        ("/big.bin", "application/octet-stream"),
    ],
)
def test_content_types(service: Service, path: str, content_type: str) -> None:
    r = get(service, path, Accept_Encoding="identity")
    assert r.status == 200
    assert r.header("Content-Type") == content_type


@pytest.mark.parametrize("path", ["/index.html", "/images/photo.jpg", "/big.bin", "/nowhere"])
def test_head_has_get_headers_and_no_body(service: Service, path: str) -> None:
    got = get(service, path)
    head = fetch(service.port, path, method="HEAD")
    assert head.status == got.status
    assert head.body == b""
    skip = {"date"}
    assert {(k.lower(), v) for k, v in head.headers.items() if k.lower() not in skip} == {
        (k.lower(), v) for k, v in got.headers.items() if k.lower() not in skip
    }


def test_head_ignores_range(service: Service) -> None:
    # RFC 9110 §14.2: Range is only defined for GET.
    r = fetch(service.port, "/hello.txt", {"Range": "bytes=0-9"}, method="HEAD")
    assert r.status == 200
    assert r.header("Content-Length") == "100"


# --- conditional requests ---------------------------------------------------


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda tag: tag, id="exact"),
        pytest.param(lambda tag: f"W/{tag}", id="weak"),
        pytest.param(lambda tag: f'"nope", {tag}', id="list"),
        pytest.param(lambda tag: "*", id="star"),
    ],
)
def test_304_via_if_none_match(service: Service, make_header) -> None:
    first = get(service, "/hello.txt")
    r = get(service, "/hello.txt", If_None_Match=make_header(first.header("ETag")))
    assert r.status == 304
    assert r.body == b""
    assert r.header("ETag") == first.header("ETag")
    assert r.header("Last-Modified") == first.header("Last-Modified")
    assert r.header("Content-Type") is None


def test_if_none_match_mismatch_is_200(service: Service) -> None:
    r = get(service, "/hello.txt", If_None_Match='"something-else"')
    assert r.status == 200 and len(r.body) == 100


def test_304_via_if_modified_since(service: Service) -> None:
    lm = get(service, "/hello.txt").header("Last-Modified") or ""
    r = get(service, "/hello.txt", If_Modified_Since=lm)
    assert r.status == 304 and r.body == b""
    assert r.header("ETag") and r.header("Last-Modified") == lm
    earlier = email.utils.formatdate(
        email.utils.parsedate_to_datetime(lm).timestamp() - 60, usegmt=True
    )
    assert get(service, "/hello.txt", If_Modified_Since=earlier).status == 200


def test_if_none_match_takes_precedence_over_ims(service: Service) -> None:
    lm = get(service, "/hello.txt").header("Last-Modified") or ""
    r = get(service, "/hello.txt", If_None_Match='"stale"', If_Modified_Since=lm)
    assert r.status == 200


def test_if_match_failure_is_412(service: Service) -> None:
    assert get(service, "/hello.txt", If_Match='"stale"').status == 412
    assert get(service, "/hello.txt", If_Match="*").status == 200


def test_304_keeps_vary_for_text(service: Service) -> None:
    tag = get(service, "/index.html").header("ETag") or ""
    r = get(service, "/index.html", If_None_Match=tag)
    assert r.status == 304 and r.header("Vary") == "Accept-Encoding"


# --- ranges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        pytest.param("bytes=10-19", 10, 19, id="middle"),
        pytest.param("bytes=-5", 95, 99, id="suffix"),
        pytest.param("bytes=90-", 90, 99, id="open"),
        pytest.param("bytes=0-1000", 0, 99, id="clipped"),
    ],
)
def test_206(service: Service, site: Site, header: str, first: int, last: int) -> None:
    r = get(service, "/hello.txt", Range=header)
    assert r.status == 206
    assert r.header("Content-Range") == f"bytes {first}-{last}/100"
    assert r.header("Content-Length") == str(last - first + 1)
    assert r.body == (site.root / "hello.txt").read_bytes()[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_416(service: Service, header: str) -> None:
    r = get(service, "/hello.txt", Range=header)
    assert r.status == 416
    assert r.header("Content-Range") == "bytes */100"


def test_416_on_empty_file(service: Service) -> None:
    assert get(service, "/empty.txt").body == b""
    r = get(service, "/empty.txt", Range="bytes=0-")
    assert r.status == 416 and r.header("Content-Range") == "bytes */0"


@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=5-1", "pages=1-2", "bytes=0-1,5-6"], ids=str
)
def test_malformed_or_multi_range_is_ignored(service: Service, header: str) -> None:
    r = get(service, "/hello.txt", Range=header)
    assert r.status == 200 and len(r.body) == 100


def test_if_range(service: Service, site: Site) -> None:
    # A date validator must be at least a second old to count as strong.
    set_mtime(site.root / "audio.mp3", time.time() - 3600)
    first = get(service, "/audio.mp3")
    tag, lm = first.header("ETag") or "", first.header("Last-Modified") or ""
    assert get(service, "/audio.mp3", Range="bytes=0-9", If_Range=tag).status == 206
    assert get(service, "/audio.mp3", Range="bytes=0-9", If_Range=lm).status == 206
    stale = get(service, "/audio.mp3", Range="bytes=0-9", If_Range='"stale"')
    assert stale.status == 200 and len(stale.body) == 3000


# --- gzip ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/index.html", "/static/style.css", "/static/app.js", "/static/logo.svg"]
)
def test_gzip_variant(service: Service, site: Site, path: str) -> None:
    plain = get(service, path)
    r = get(service, path, Accept_Encoding="gzip, deflate, br")
    assert r.status == 200
    assert r.header("Content-Encoding") == "gzip"
    assert r.header("Vary") == "Accept-Encoding"
    assert gzip.decompress(r.body) == plain.body == (site.root / path[1:]).read_bytes()
    assert r.header("Content-Length") == str(len(r.body)) and len(r.body) < len(plain.body)
    tag = r.header("ETag") or ""
    assert tag.endswith('-gz"') and tag != plain.header("ETag")
    again = get(service, path, Accept_Encoding="gzip", If_None_Match=tag)
    assert again.status == 304 and again.header("ETag") == tag


def test_gzip_not_used_with_range_or_when_refused(service: Service) -> None:
    r = get(service, "/index.html", Accept_Encoding="gzip", Range="bytes=0-9")
    assert r.status == 206 and r.header("Content-Encoding") is None and r.body == PAGE[:10]
    r = get(service, "/index.html", Accept_Encoding="gzip;q=0")
    assert r.header("Content-Encoding") is None and r.body == PAGE
    # The identity tag does not validate the gzip variant.
    plain_tag = get(service, "/index.html").header("ETag") or ""
    r = get(service, "/index.html", Accept_Encoding="gzip", If_None_Match=plain_tag)
    assert r.status == 200 and r.header("Content-Encoding") == "gzip"


def test_no_gzip_for_images_or_tiny_text(service: Service) -> None:
    r = get(service, "/images/photo.jpg", Accept_Encoding="gzip")
    assert r.header("Content-Encoding") is None and r.header("Vary") is None
    r = get(service, "/tiny.txt", Accept_Encoding="gzip")
    assert r.body == b"x" and r.header("Content-Encoding") is None
    assert r.header("Vary") == "Accept-Encoding"


# --- errors -----------------------------------------------------------------


def test_404_page(service: Service, site: Site) -> None:
    r = get(service, "/no/such/page.html")
    assert r.status == 404
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.body == (site.root / "404.html").read_bytes()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_405(service: Service, method: str) -> None:
    r = fetch(service.port, "/index.html", method=method)
    assert r.status == 405
    assert r.header("Allow") == "GET, HEAD"


def test_healthz(service: Service) -> None:
    r = get(service, "/healthz")
    assert (r.status, r.body) == (200, b"ok\n")


@pytest.mark.parametrize(
    "path", ["/.env", "/.git/config", "/link-out", "/link-dot", "/dir-out/secret.txt"]
)
def test_hidden_and_outside_files_are_404(service: Service, path: str) -> None:
    r = get(service, path)
    assert r.status == 404 and SECRET_MARKER not in r.body


@pytest.mark.parametrize(
    "target",
    [
        b"/../../etc/passwd",
        b"/../secret",
        b"/../outside/secret.txt",
        b"/%2e%2e/%2e%2e/etc/passwd",
        b"/%2e%2e/secret",
        b"/%2E%2E/outside/secret.txt",
        b"/images/..%2f..%2fsecret",
        b"/images/%2e%2e%2f%2e%2e%2fsecret",
        b"/..%5csecret",
        b"/images/..\\..\\secret",
        b"/%252e%252e/secret",
        b"//etc/passwd",
        b"/%2fetc%2fpasswd",
        b"/.%2e/secret",
        b"/index.html%00.txt",
        b"/%00",
        b"http://localhost/../secret",
        b"/dir-out/secret.txt",
        b"/link-out",
    ],
    ids=lambda t: t.decode(),
)
def test_traversal_attempts(service: Service, target: bytes) -> None:
    request = b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    status, _head, body = raw_request(service.port, request)
    assert status in (400, 404), (status, body[:200])
    assert SECRET_MARKER not in body
    assert b"root:" not in body


# --- files changing on disk ---------------------------------------------------


def test_changed_file_is_served_fresh(service: Service, site: Site) -> None:
    path = site.root / "news.txt"
    path.write_bytes(b"first version\n")
    first = get(service, "/news.txt")
    assert first.body == b"first version\n"
    # Same size, new content: only the mtime tells the change.
    path.write_bytes(b"second versio\n")
    set_mtime(path, time.time() + 5)
    second = get(service, "/news.txt")
    assert second.body == b"second versio\n"
    assert second.header("ETag") != first.header("ETag")
    assert get(service, "/news.txt", If_None_Match=first.header("ETag") or "").status == 200
    # Grown past nothing in particular, then gone.
    path.write_bytes(b"third and longer version\n")
    assert get(service, "/news.txt").body == b"third and longer version\n"
    path.unlink()
    assert get(service, "/news.txt").status == 404
    path.write_bytes(b"back again\n")
    assert get(service, "/news.txt").body == b"back again\n"


def test_replacing_a_file_with_a_symlink_out_is_noticed(service: Service, site: Site) -> None:
    path = site.root / "swap.txt"
    path.write_bytes(b"harmless\n")
    assert get(service, "/swap.txt").body == b"harmless\n"
    path.unlink()
    path.symlink_to(site.outside / "secret.txt")
    r = get(service, "/swap.txt")
    assert r.status == 404 and SECRET_MARKER not in r.body


# --- large files --------------------------------------------------------------


def test_large_file_byte_exact(service: Service, site: Site) -> None:
    r = get(service, "/big.bin")
    assert r.status == 200
    assert r.header("Content-Length") == str(BIG_SIZE)
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(site.big).digest()


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        pytest.param("bytes=2000000-3000000", 2_000_000, 3_000_000, id="middle"),
        pytest.param("bytes=-500", BIG_SIZE - 500, BIG_SIZE - 1, id="suffix"),
        pytest.param(f"bytes={BIG_SIZE - 70000}-", BIG_SIZE - 70000, BIG_SIZE - 1, id="open"),
    ],
)
def test_large_file_range(service: Service, site: Site, header: str, first: int, last: int) -> None:
    r = get(service, "/big.bin", Range=header)
    assert r.status == 206
    assert r.header("Content-Range") == f"bytes {first}-{last}/{BIG_SIZE}"
    assert r.body == site.big[first : last + 1]


def test_large_file_conditionals(service: Service) -> None:
    tag = get(service, "/big.bin", Range="bytes=0-0").header("ETag") or ""
    assert get(service, "/big.bin", If_None_Match=tag).status == 304
    assert get(service, "/big.bin", Range=f"bytes={BIG_SIZE}-").status == 416
    r = get(service, "/big.bin", Range="bytes=5-9", If_Range='"old"')
    assert r.status == 200 and len(r.body) == BIG_SIZE


def test_client_leaving_mid_download_does_not_hurt(service: Service) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(65536)
    assert get(service, "/hello.txt").status == 200


def test_keep_alive_sequence(service: Service) -> None:
    # Framing must stay right across 200, HEAD, 304, 206, 416, 404 and 405.
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    try:
        seen = []
        for method, path, headers in [
            ("GET", "/hello.txt", {}),
            ("HEAD", "/big.bin", {}),
            ("GET", "/hello.txt", {"If-None-Match": "*"}),
            ("GET", "/big.bin", {"Range": "bytes=1-3"}),
            ("GET", "/hello.txt", {"Range": "bytes=900-"}),
            ("GET", "/missing", {}),
            ("POST", "/hello.txt", {"Content-Length": "0"}),
            ("GET", "/index.html", {"Accept-Encoding": "gzip"}),
        ]:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            seen.append(resp.status)
        assert seen == [200, 200, 304, 206, 416, 404, 405, 200]
    finally:
        conn.close()


def test_sigterm_cuts_a_stalled_download_after_the_grace(
    site: Site, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A client that stops reading must not hold a stopping service forever."""
    huge = site.root / "huge.bin"
    with huge.open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # sparse: more than the socket buffers can swallow
    svc = start(site, tmp_path_factory, CONTENT_SHUTDOWN_GRACE="1")
    try:
        with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as sock:
            sock.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")  # begun; we read no more
            started = time.monotonic()
            # uvicorn ends by raising the signal it caught again; SIGKILL would be -9.
            assert svc.stop(timeout=15) == -signal.SIGTERM
            assert time.monotonic() - started < 5  # the 1 s grace, and the cut
    finally:
        svc.stop()
        huge.unlink()
