"""Upstream replicas with real processes: a replica killed under load costs no 5xx,
ejection after consecutive failures, active health checks, all replicas down, /readyz."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e import admin
from tests.e2e.conftest import PASSWORD, SHIPPED_SITE, USERID, Stack
from tests.e2e.loadclient import load
from tests.e2e.scripted_upstream import ScriptedUpstream
from tests.support import RawClient, Service, free_port

CONNECTIONS = 16


@dataclass
class Replicated:
    stack: Stack  # its auth and content are the first replicas
    auths: list[Service]
    contents: list[Service]


@contextlib.contextmanager
def replicated(
    tmp: Path, *, auths: int = 1, contents: int = 1, proxy_env: dict | None = None
) -> Iterator[Replicated]:
    """Auth and content replicas sharing one user file, site and key; a proxy over them."""
    site = tmp / "site"
    shutil.copytree(SHIPPED_SITE, site)
    common = {"SECRET_KEY": "test-secret-key-not-for-production"}
    started: list[Service] = []
    try:
        for _ in range(auths):
            port = free_port()
            env = {
                **common,
                "AUTH_PORT": str(port),
                "USERS_FILE": str(tmp / "users.json"),
                "DEMO_USERID": USERID,
                "DEMO_PASSWORD": PASSWORD,
            }
            started.append(Service("auth_service", port, env, tmp / f"auth-{port}.log"))
        for _ in range(contents):
            port = free_port()
            env = {**common, "CONTENT_PORT": str(port), "CONTENT_ROOT": str(site)}
            started.append(Service("content_service", port, env, tmp / f"content-{port}.log"))
        auth_list, content_list = started[:auths], started[auths:]
        port = free_port()
        env = {
            "PROXY_PORT": str(port),
            "AUTH_UPSTREAMS": ",".join(f"127.0.0.1:{s.port}" for s in auth_list),
            "CONTENT_UPSTREAMS": ",".join(f"127.0.0.1:{s.port}" for s in content_list),
            "PROXY_CACHE_BYTES": "0",  # every request reaches a replica
            **(proxy_env or {}),
        }
        proxy = Service("proxy", port, env, tmp / "proxy.log")
        started.append(proxy)
        stack = Stack(proxy=proxy, auth=auth_list[0], content=content_list[0], content_root=site)
        yield Replicated(stack, auth_list, content_list)
    finally:
        for service in reversed(started):
            service.stop()


def kill(service: Service) -> None:
    os.kill(service.proc.pid, signal.SIGKILL)


def test_a_content_replica_killed_under_load_costs_no_5xx(tmp_path):
    with replicated(tmp_path, contents=3) as r:
        result = load(
            r.stack.port,
            "/static/style.css",
            connections=CONNECTIONS,
            total=900,
            at=(300, lambda: kill(r.contents[1])),
        )
        samples = admin.scrape(r.stack.proxy.admin_port)
    assert result.done == 900
    assert result.server_errors == 0, result.statuses
    assert result.cut <= CONNECTIONS  # at most the responses in flight on the killed one
    killed = f"127.0.0.1:{r.contents[1].port}"
    assert (
        admin.value(
            samples,
            "gatehouse_upstream_requests_total",
            upstream="content",
            replica=killed,
            outcome="ok",
        )
        > 0
    )  # it did serve before it died
    print(f"content replica killed: {result}")


def test_an_auth_replica_killed_under_load_costs_no_5xx(tmp_path):
    env = {"AUTH_CACHE_TTL": "0"}  # every request is checked by an auth replica
    with replicated(tmp_path, auths=2, proxy_env=env) as r:
        cookie = r.stack.login()
        result = load(
            r.stack.port,
            "/secret.html",
            connections=CONNECTIONS,
            total=600,
            cookie=cookie,
            at=(200, lambda: kill(r.auths[1])),
        )
    assert result.done == 600
    assert result.server_errors == 0, result.statuses
    assert result.statuses[403] == 0  # and no one was logged out by it
    assert result.cut <= CONNECTIONS
    print(f"auth replica killed: {result}")


@contextlib.contextmanager
def scripted_proxy(tmp: Path, ports: list[int], **env: str) -> Iterator[Service]:
    auth = free_port()  # nothing there: these tests use public paths only
    proxy_env = {
        "PROXY_PORT": str(free_port()),
        "AUTH_PORT": str(auth),
        "CONTENT_UPSTREAMS": ",".join(f"127.0.0.1:{p}" for p in ports),
        "PROXY_CACHE_BYTES": "0",
        **env,
    }
    proxy = Service("proxy", int(proxy_env["PROXY_PORT"]), proxy_env, tmp / "proxy.log")
    try:
        yield proxy
    finally:
        proxy.stop()


def get(port: int, path: str = "/static/echo") -> int:
    with RawClient(port) as client:
        resp, _ = client.request("GET", path)
    return resp.status


def test_consecutive_failures_eject_a_replica(tmp_path):
    dead = free_port()  # refuses connections
    env = {"UPSTREAM_HEALTH_INTERVAL": "0", "UPSTREAM_FAIL_TIMEOUT": "60"}
    with ScriptedUpstream() as live, scripted_proxy(tmp_path, [live.port, dead], **env) as proxy:
        assert all(get(proxy.port) == 200 for _ in range(40))  # refused ones are retried
        samples = admin.scrape(proxy.admin_port)
        log = proxy.output()
    refused = admin.value(
        samples,
        "gatehouse_upstream_requests_total",
        upstream="content",
        replica=f"127.0.0.1:{dead}",
        outcome="connect_error",
    )
    assert refused == 3  # UPSTREAM_MAX_FAILS, then no more tries within the fail timeout
    assert f"replica 127.0.0.1:{dead} ejected" in log


def test_active_health_checks_take_a_replica_out_and_back(tmp_path):
    env = {"UPSTREAM_HEALTH_INTERVAL": "0.2"}
    with (
        ScriptedUpstream() as sick,
        ScriptedUpstream() as well,
        scripted_proxy(tmp_path, [sick.port, well.port], **env) as proxy,
    ):

        def healthy(upstream: ScriptedUpstream) -> float:
            samples = admin.scrape(proxy.admin_port)
            label = f"127.0.0.1:{upstream.port}"
            return admin.value(
                samples, "gatehouse_upstream_replica_healthy", upstream="content", replica=label
            )

        def served(upstream: ScriptedUpstream) -> int:
            return sum(1 for _, path, _ in upstream.requests if path == "/static/echo")

        sick.healthy = False
        admin.wait_until(lambda: healthy(sick) == 0, "the sick replica to be taken out")
        assert all(get(proxy.port) == 200 for _ in range(20))
        assert served(sick) == 0 and served(well) == 20
        sick.healthy = True
        admin.wait_until(lambda: healthy(sick) == 1, "the replica to come back")
        assert all(get(proxy.port) == 200 for _ in range(40))
        assert served(sick) > 0
        assert "fails its health check" in proxy.output()


def test_all_replicas_down_is_502_at_once_and_not_ready(tmp_path):
    # Listeners that never accept, their backlogs full: connecting would hang for the whole
    # connect timeout. Once health checks have failed, requests are answered at once.
    listeners, fillers = [], []
    for _ in range(2):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        listeners.append(listener)
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
    ports = [s.getsockname()[1] for s in listeners]
    env = {"UPSTREAM_HEALTH_INTERVAL": "0.3", "UPSTREAM_CONNECT_TIMEOUT": "60"}
    try:
        with scripted_proxy(tmp_path, ports, **env) as proxy:
            # 503 at once (no round of checks done yet), then naming what is down.
            admin.wait_until(
                lambda: "content: no healthy replica" in admin.get(proxy.admin_port, "/readyz")[1],
                "/readyz to name the content service",
            )
            assert admin.get(proxy.admin_port, "/readyz")[0] == 503
            with RawClient(proxy.port, timeout=10) as client:  # far below the connect timeout
                resp, page = client.request("GET", "/static/style.css")
            assert resp.status == 502 and b"No replica of the content service" in page
    finally:
        for sock in [*fillers, *listeners]:
            sock.close()
