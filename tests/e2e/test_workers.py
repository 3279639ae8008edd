"""PROXY_WORKERS=2: both workers serve, a killed one is replaced, SIGTERM lets downloads
finish; /healthz, /readyz and /metrics on the admin listener, over all workers."""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from tests.e2e import admin
from tests.e2e.conftest import SHIPPED_SITE, running_stack

WORKERS = {"PROXY_WORKERS": "2"}


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("workers"), proxy_env=WORKERS) as stack:
        yield stack


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def fetch(port: int, path: str = "/static/style.css", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("X-Request-ID"), resp.read()
    finally:
        conn.close()


def test_two_workers_both_serve(workers):
    # Generated request ids start with a per-worker prefix: two prefixes, two workers.
    prefixes: set[str] = set()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for _ in range(10):
            for status, request_id, _ in pool.map(lambda _: fetch(workers.port), range(64)):
                assert status == 200
                prefixes.add(request_id.rsplit("-", 1)[0])
            if len(prefixes) == 2:
                break
    assert len(prefixes) == 2
    assert set(re.findall(r" worker=(\d+) ", workers.proxy_log())) == {"1", "2"}


def test_admin_health_readiness_and_metrics(workers):
    port = workers.proxy.admin_port
    assert admin.get(port, "/healthz") == (200, "ok\n")
    assert admin.get(port, "/readyz") == (200, "ready\n")
    assert admin.get(port, "/nope")[0] == 404
    # ...which the public port treats like any other path: behind the login.
    assert fetch(workers.port, "/metrics")[0] == 403

    labels = {"route": "public", "method": "GET", "status_class": "2xx"}
    before = admin.scrape(port)
    for _ in range(20):
        assert fetch(workers.port)[0] == 200

    def moved() -> bool:
        now = admin.scrape(port)
        return admin.value(now, "gatehouse_requests_total", **labels) >= (
            admin.value(before, "gatehouse_requests_total", **labels) + 20
        )

    admin.wait_until(moved, "gatehouse_requests_total to count 20 more requests")
    now = admin.scrape(port)
    for name in (
        "gatehouse_connections_total",
        "gatehouse_request_duration_seconds_count",
        "gatehouse_requests_per_connection_count",
        "gatehouse_response_bytes_total",
    ):
        assert admin.total(now, name) >= admin.total(before, name) + 20, name
    assert admin.total(now, "gatehouse_upstream_requests_total", upstream="content") > 0
    assert admin.total(now, "gatehouse_upstream_replica_healthy", upstream="auth") == 1
    assert admin.total(now, "gatehouse_upstream_replica_healthy", upstream="content") == 1
    assert ("gatehouse_connections_open", frozenset()) in now
    assert admin.total(now, "gatehouse_upstream_pool_idle", upstream="content") >= 0


def test_a_killed_worker_is_replaced(workers):
    master = workers.proxy.proc.pid
    before = children(master)
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    admin.wait_until(
        lambda: len(children(master)) == 2 and victim not in children(master),
        "the master to start a new worker",
    )
    assert "worker" in workers.proxy_log() and "restarting it" in workers.proxy_log()
    for _ in range(10):
        assert fetch(workers.port)[0] == 200


def test_sigterm_lets_downloads_in_flight_finish(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(SHIPPED_SITE, site)
    size = 16 * 1024 * 1024  # more than the socket buffers on the way hold
    (site / "static" / "big.bin").write_bytes(os.urandom(1024) * (size // 1024))
    env = {**WORKERS, "PROXY_SHUTDOWN_GRACE": "20"}
    with running_stack(tmp_path, proxy_env=env, content_root=site) as stack:
        downloads = []
        for _ in range(3):
            conn = stack.connect()
            conn.request("GET", "/static/big.bin")
            resp = conn.getresponse()
            assert resp.status == 200
            downloads.append((conn, resp, resp.read(65536)))  # started, far from done
        stack.proxy.proc.send_signal(signal.SIGTERM)  # the master only: it stops its workers
        for conn, resp, start in downloads:
            assert len(start + resp.read()) == size
            conn.close()
        assert stack.proxy.proc.wait(30) == 0
        assert "gatehouse proxy stopped" in stack.proxy_log()
