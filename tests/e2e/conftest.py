"""The real stack (proxy, auth service, content service) as processes on free loopback ports."""

from __future__ import annotations

import contextlib
import http.client
import shutil
import ssl
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import REPO, Service, free_port

USERID = "alice"
PASSWORD = "correct horse battery staple"
SHIPPED_SITE = REPO / "content_service" / "site"


@dataclass
class Stack:
    proxy: Service
    auth: Service
    content: Service | None  # None when the content upstream is a test double
    content_root: Path | None
    userid: str = USERID
    password: str = PASSWORD
    tls: ssl.SSLContext | None = None  # a client context trusting the proxy's certificate

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def url(self) -> str:
        if self.tls is not None:
            return f"https://127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def connect(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.tls
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def login(self, conn: http.client.HTTPConnection | None = None) -> str:
        """Log in through the proxy; return the `session=...` cookie pair (under TLS,
        `__Host-session=...`)."""
        own = conn is None
        conn = conn or self.connect()
        body = urllib.parse.urlencode({"userid": self.userid, "passwd": self.password})
        conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 303, resp.status
        cookie = resp.getheader("Set-Cookie", "").split(";", 1)[0]
        assert cookie.startswith(("session=", "__Host-session=")), cookie
        if own:
            conn.close()
        return cookie

    def proxy_log(self) -> str:
        return self.proxy.output()

    def stop(self) -> None:
        for svc in (self.proxy, self.auth, self.content):
            if svc is not None:
                svc.stop()


def start_stack(
    tmp: Path,
    *,
    proxy_env: Mapping[str, str] | None = None,
    auth_env: Mapping[str, str] | None = None,
    content_env: Mapping[str, str] | None = None,
    content_root: Path | None = None,
    content_port: int | None = None,
    proxy_preexec: Callable[[], object] | None = None,
) -> Stack:
    """Start the three services; extra settings per service override the defaults.

    With `content_port`, no content service is started: the proxy's content upstream is
    whatever listens there (a test double).
    """
    auth_port, proxy_port = free_port(), free_port()
    external_content = content_port is not None
    content_port = content_port or free_port()
    if content_root is None and not external_content:
        content_root = tmp / "site"
        shutil.copytree(SHIPPED_SITE, content_root)
    common = {
        "AUTH_HOST": "127.0.0.1",
        "AUTH_PORT": str(auth_port),
        "CONTENT_HOST": "127.0.0.1",
        "CONTENT_PORT": str(content_port),
        "SECRET_KEY": "test-secret-key-not-for-production",
        # As `make run` and compose do: the services answer only the proxy.
        "INTERNAL_TOKEN": "test-internal-token",
    }
    auth = Service(
        "auth_service",
        auth_port,
        {
            **common,
            "AUTH_DATABASE_URL": f"sqlite:///{tmp / 'auth.db'}",
            # Test-only: argon2 with 1 MiB instead of 64 MiB keeps each login a few ms.
            "AUTH_ARGON2_MEMORY_KIB": "1024",
            "DEMO_USERID": USERID,
            "DEMO_PASSWORD": PASSWORD,
            **(auth_env or {}),
        },
        tmp / "auth.log",
    )
    content = None
    if not external_content:
        content = Service(
            "content_service",
            content_port,
            {**common, "CONTENT_ROOT": str(content_root), **(content_env or {})},
            tmp / "content.log",
        )
    proxy = Service(
        "proxy",
        proxy_port,
        {**common, "PROXY_HOST": "127.0.0.1", "PROXY_PORT": str(proxy_port), **(proxy_env or {})},
        tmp / "proxy.log",
        preexec_fn=proxy_preexec,
    )
    return Stack(proxy=proxy, auth=auth, content=content, content_root=content_root)


@contextlib.contextmanager
def running_stack(tmp: Path, **kwargs: object) -> Iterator[Stack]:
    stack = start_stack(tmp, **kwargs)  # type: ignore[arg-type]
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack with default settings, shared by the tests of a module."""
    with running_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s
