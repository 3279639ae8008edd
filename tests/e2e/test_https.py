"""HTTPS end to end: the real stack with the proxy terminating TLS, over real TLS sockets with a
local CA (trustme): keep-alive, a 50 MB body, HSTS, the Secure `__Host-session` cookie, the
redirect listener, and the curl scenario.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator

import pytest

from proxy import devcerts
from tests.e2e.conftest import SHIPPED_SITE, Stack, running_stack
from tests.support import REPO, RawClient, free_port, recv_until_closed, wait_for_port

BIG = 50 * 1024 * 1024
HSTS = "max-age=31536000"
PAGE = "/static/style.css"


@pytest.fixture(scope="module")
def https_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("https")
    certs = devcerts.write(tmp / "tls")
    root = tmp / "site"
    shutil.copytree(SHIPPED_SITE, root)
    data = os.urandom(1024 * 1024) * (BIG // (1024 * 1024))
    (root / "static" / "big.bin").write_bytes(data)
    redirect_port = free_port()
    proxy_env = {
        "PROXY_TLS_CERT": str(certs.cert),
        "PROXY_TLS_KEY": str(certs.key),
        "PROXY_HTTP_REDIRECT_PORT": str(redirect_port),
        "PROXY_HEADER_TIMEOUT": "2",  # the silent redirect client is cut off soon
    }
    token = {"INTERNAL_TOKEN": "https-stack-token"}  # the services refuse requests without it
    with running_stack(
        tmp,
        content_root=root,
        proxy_env={**proxy_env, **token},
        auth_env=token,
        content_env=token,
    ) as stack:
        stack.tls = ssl.create_default_context(cafile=str(certs.ca))
        wait_for_port(redirect_port, stack.proxy.proc)
        stack.redirect_port = redirect_port  # type: ignore[attr-defined]
        stack.ca = certs.ca  # type: ignore[attr-defined]
        stack.big_sha = hashlib.sha256(data).hexdigest()  # type: ignore[attr-defined]
        yield stack


def login_with_host_cookie(stack: Stack) -> str:
    cookie = stack.login()
    return cookie


def test_the_listener_speaks_tls_with_alpn_http11(https_stack):
    context = ssl.create_default_context(cafile=str(https_stack.ca))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", https_stack.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_http_on_the_tls_port_gets_no_http_answer(https_stack):
    with socket.create_connection(("127.0.0.1", https_stack.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not recv_until_closed(sock).startswith(b"HTTP/")


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end closes a connection we send nothing more on (within 15 s)."""
    sock.settimeout(15)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_client_that_never_handshakes_is_cut_off(https_stack):
    with socket.create_connection(("127.0.0.1", https_stack.port), timeout=5) as sock:
        assert closed_by_peer(sock)  # by the header deadline (2 s here)


def test_hundred_requests_count_down_then_close(https_stack):
    with RawClient(https_stack.port, tls=https_stack.tls) as client:
        for n in range(1, 100):
            resp, _ = client.request("GET", PAGE)
            assert resp.status == 200
            assert resp.getheader("Connection") == "keep-alive", n
            assert resp.getheader("Keep-Alive") == f"timeout=5, max={100 - n}", n
            assert resp.getheader("Strict-Transport-Security") == HSTS
        resp, _ = client.request("GET", PAGE)
        assert resp.status == 200
        assert resp.getheader("Connection") == "close"
        assert resp.getheader("Keep-Alive") is None
        assert client.is_closed()


def test_client_connection_close_is_honoured(https_stack):
    with RawClient(https_stack.port, tls=https_stack.tls) as client:
        resp, _ = client.request("GET", PAGE, {"Connection": "close"})
        assert resp.status == 200 and resp.getheader("Connection") == "close"
        assert client.is_closed()


def test_fifty_megabytes_pass_byte_exact(https_stack):
    with RawClient(https_stack.port, timeout=60, tls=https_stack.tls) as client:
        resp, body = client.request("GET", "/static/big.bin")
        assert resp.status == 200
        assert len(body) == BIG
        assert hashlib.sha256(body).hexdigest() == https_stack.big_sha
        resp, _ = client.request("GET", PAGE)  # the connection is still good
        assert resp.status == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/secret.html", 403), ("/no/such/page", 403), ("/static/nope.css", 404)],
)
def test_every_response_carries_hsts(https_stack, path, status):
    with RawClient(https_stack.port, tls=https_stack.tls) as client:
        resp, _ = client.request("GET", path)
    assert resp.status == status
    assert resp.getheader("Strict-Transport-Security") == HSTS


def test_login_sets_the_secure_host_prefixed_cookie(https_stack):
    conn = https_stack.connect()
    conn.request(
        "POST",
        "/login",
        f"userid={https_stack.userid}&passwd={https_stack.password.replace(' ', '+')}",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 303
    set_cookie = resp.getheader("Set-Cookie")
    attributes = [a.strip().lower() for a in set_cookie.split(";")[1:]]
    assert set_cookie.startswith("__Host-session=")
    assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
    assert not any(a.startswith("domain") for a in attributes)


def test_the_host_cookie_opens_the_secret_page_and_the_plain_name_does_not(https_stack):
    cookie = login_with_host_cookie(https_stack)
    value = cookie.split("=", 1)[1]
    with RawClient(https_stack.port, tls=https_stack.tls) as client:
        resp, _ = client.request("GET", "/secret.html", {"Cookie": cookie})
        assert resp.status == 200
        # Over TLS only the __Host- cookie counts: one planted without the prefix does not.
        resp, _ = client.request("GET", "/secret.html", {"Cookie": f"session={value}"})
        assert resp.status == 403


def test_redirect_listener_answers_308_to_https(https_stack):
    target = "/secret.html?x=1"
    with RawClient(https_stack.redirect_port) as client:
        resp, body = client.request("GET", target, {"Host": f"127.0.0.1:{https_stack.port}"})
        assert resp.status == 308 and body == b""
        assert resp.getheader("Location") == f"https://127.0.0.1:{https_stack.port}{target}"
        assert resp.getheader("Connection") == "close" and resp.getheader("Date")
        assert resp.getheader("Strict-Transport-Security") is None  # only ever over TLS
        assert client.is_closed()


def test_redirect_listener_refuses_a_bad_host(https_stack):
    with RawClient(https_stack.redirect_port) as client:
        resp, _ = client.request("GET", "/", {"Host": "a:b:c"})
        assert resp.status == 400 and resp.getheader("Location") is None


def test_redirect_listener_gives_up_on_a_silent_client(https_stack):
    with socket.create_connection(("127.0.0.1", https_stack.redirect_port), timeout=5) as sock:
        sock.sendall(b"GET / HTT")
        assert closed_by_peer(sock)  # by the header deadline (2 s here)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_https_scenario(https_stack):
    env = {
        **os.environ,
        "HTTPS_URL": https_stack.url,
        "HTTP_REDIRECT_URL": f"http://127.0.0.1:{https_stack.redirect_port}",
        "CA_FILE": str(https_stack.ca),
        "DEMO_USERID": https_stack.userid,
        "DEMO_PASSWORD": https_stack.password,
    }
    result = subprocess.run(
        ["bash", "scenarios/07-https.sh"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
