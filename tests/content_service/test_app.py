"""The ASGI app called in-process, for what is awkward to reach through a socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from content_service.app import create_app
from content_service.config import Settings
from content_service.pages import BUILTIN_404
from tests.content_service.test_files import out_of_file_descriptors


def call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers or [],
    }
    asyncio.run(app(scope, receive, send))
    start, *bodies = messages
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in bodies)


def starved(app: Any) -> Any:
    """`app`, run while this process has no file descriptor left to open."""

    async def run(scope: Any, receive: Any, send: Any) -> None:
        with out_of_file_descriptors():
            await app(scope, receive, send)

    return run


def settings(root: Path, memory_max: int = 1024 * 1024) -> Settings:
    return Settings(content_root=root, memory_max=memory_max)


def test_builtin_404_without_404_html(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    status, headers, body = call(app, "GET", "/missing")
    assert status == 404
    assert body == BUILTIN_404
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert b'href="/"' in body


def test_404_html_too_big_for_memory_falls_back(tmp_path: Path) -> None:
    (tmp_path / "404.html").write_bytes(b"<p>custom</p>" * 10)
    status, _headers, body = call(create_app(settings(tmp_path, memory_max=10)), "GET", "/x")
    assert (status, body) == (404, BUILTIN_404)


def test_streamed_path_when_memory_max_is_zero(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"abcdefghij")
    app = create_app(settings(tmp_path, memory_max=0))
    assert call(app, "GET", "/a.txt")[2] == b"abcdefghij"
    status, headers, body = call(app, "GET", "/a.txt", [(b"range", b"bytes=2-4")])
    assert (status, body, headers[b"content-range"]) == (206, b"cde", b"bytes 2-4/10")
    status, headers, body = call(app, "HEAD", "/a.txt")
    assert (status, headers[b"content-length"], body) == (200, b"10", b"")
    # No gzip variant is kept for streamed files, so identity it is.
    status, headers, _ = call(app, "GET", "/a.txt", [(b"accept-encoding", b"gzip")])
    assert b"content-encoding" not in headers
    (tmp_path / "empty.txt").write_bytes(b"")
    assert call(app, "GET", "/empty.txt")[:1] == (200,)


def test_nul_in_path_is_400(tmp_path: Path) -> None:
    assert call(create_app(settings(tmp_path)), "GET", "/a\x00b")[0] == 400


def test_repeated_fields_are_combined(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"abcdefghij")
    app = create_app(settings(tmp_path))
    etag = call(app, "GET", "/a.txt")[1][b"etag"]
    headers = [(b"if-none-match", b'"nope"'), (b"if-none-match", etag)]
    assert call(app, "GET", "/a.txt", headers)[0] == 304
    # Two Range fields make an ambiguous multi-range, which is ignored.
    headers = [(b"range", b"bytes=0-1"), (b"range", b"bytes=2-3")]
    assert call(app, "GET", "/a.txt", headers)[0] == 200


def test_lifespan_and_websocket(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    sent: list[dict[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    sent.clear()
    asyncio.run(app({"type": "websocket", "path": "/"}, receive, send))
    assert sent[0]["type"] == "websocket.close"


def test_operations_come_before_site_files(tmp_path: Path) -> None:
    for name in ("healthz", "readyz", "metrics"):
        (tmp_path / name).write_bytes(b"a site file")
    app = create_app(settings(tmp_path))
    assert call(app, "GET", "/healthz")[::2] == (200, b"ok\n")
    assert call(app, "GET", "/readyz")[::2] == (200, b"ready\n")
    assert call(app, "GET", "/metrics")[2].startswith(b"# HELP gatehouse_content_")
    assert call(app, "GET", "/healthz/")[0] == 404  # only the exact paths


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda root: root.rmdir(), id="removed"),
        pytest.param(lambda root: (root.rmdir(), root.write_bytes(b"x")), id="now-a-file"),
    ],
)
def test_readyz_names_the_problem(tmp_path: Path, damage: Callable[[Path], object]) -> None:
    root = tmp_path / "site"
    root.mkdir()
    app = create_app(settings(root))
    damage(root)
    status, headers, body = call(app, "GET", "/readyz")
    assert status == 503
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"
    assert body.startswith(f"not ready: content root {str(root)!r} is not readable: ".encode())
    assert call(app, "GET", "/healthz")[0] == 200  # alive, just not ready


def test_out_of_descriptors_is_503_not_404(tmp_path: Path) -> None:
    """A transient failure of ours must not tell clients or caches that the file is gone
    (a 404 is cacheable by default, RFC 9111 §4.2.2)."""
    (tmp_path / "page.html").write_text("<p>hi</p>")
    app = create_app(settings(tmp_path))

    status, headers, body = call(starved(app), "GET", "/page.html")
    assert (status, headers[b"retry-after"]) == (503, b"1")
    assert body == b"Service Unavailable: try again shortly.\n"
    assert call(app, "GET", "/page.html")[0] == 200


def test_a_missing_file_is_404_even_when_the_404_page_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "404.html").write_text("<p>custom</p>")
    app = create_app(settings(tmp_path))

    assert call(starved(app), "GET", "/missing.html")[:3:2] == (404, BUILTIN_404)
