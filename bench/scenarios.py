"""The six scenarios of issue 4 and issue 9's stalled downloads, each measuring our system
and its yardstick in the same run.

A scenario returns a plain dict (it goes to JSON as it is): for each side ("ours" and
"theirs") the wrk figures, the CPU share of every process involved (to see which one
saturates its core) and, where the issue asks, the RSS of the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import resource
import select
import signal
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import hold, wrk
from bench.processes import (
    NGINX_REPLICAS_TEMPLATE,
    NGINX_STATIC_TEMPLATE,
    NGINX_TEMPLATE,
    BenchError,
    Cores,
    MemoryWatch,
    Proc,
    Services,
    core_times,
    cpu_seconds,
    free_port,
    rss_mb,
)
from proxy import devcerts, tls
from proxy.config import Settings as ProxySettings

BIG_FILE = "bench-big.bin"  # generated in the temp copy of the site, never committed
NGINX_TLS_TEMPLATE = Path(__file__).with_name("nginx_tls.conf.template")
# Loopback, a certificate made for the run: the bench checks bytes, not the chain (nor does wrk).
_UNVERIFIED = ssl._create_unverified_context()


@dataclass
class Context:
    services: Services
    cores: Cores
    site: Path
    auth: Proc
    content: Proc
    cookie: str
    duration: int
    warmup: int
    connections: int
    big_connections: int
    hold_count: int
    hold_load_connections: int
    nofile: int
    stack: contextlib.ExitStack
    static: Proc | None = None  # scenario 4's upstream, started when first needed
    proxy_env: Mapping[str, str] = field(default_factory=dict)  # --proxy-env, ours only
    nginx_cache: bool = False  # --nginx-cache: proxy_cache on nginx's content locations

    @property
    def proxy_defaults(self) -> ProxySettings:
        return ProxySettings.from_env({**os.environ, **self.proxy_env})

    def static_upstream(self) -> Proc:
        if self.static is None:
            port = free_port()
            values = {
                "listen_port": port,
                "root": self.site,
                "nofile": self.nofile,
                "worker_connections": _worker_connections(self.nofile),
            }
            self.static = self.stack.enter_context(
                stopping(self.services.nginx("nginx-static", NGINX_STATIC_TEMPLATE, values, port))
            )
        return self.static


@dataclass
class Pair:
    ours: Proc
    nginx: Proc
    nginx_main_port: int
    nginx_overhead_port: int


@contextlib.contextmanager
def stopping(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()


def _worker_connections(nofile: int) -> int:
    return max(1024, min(nofile - 100, 32768))


def _nginx_time(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


@contextlib.contextmanager
def proxies(
    ctx: Context,
    name: str,
    *,
    content_port: int | None = None,
    keepalive_timeout: float | None = None,
) -> Iterator[Pair]:
    """A fresh instance of our proxy and of nginx, with the same client keep-alive rules."""
    defaults = ctx.proxy_defaults
    idle = keepalive_timeout if keepalive_timeout is not None else defaults.keepalive_timeout
    extra = {**ctx.proxy_env}
    if keepalive_timeout is not None:
        extra["KEEPALIVE_TIMEOUT"] = str(keepalive_timeout)
    static_port = ctx.static.port if ctx.static is not None and ctx.static.port else free_port()
    main_port, overhead_port = free_port(), free_port()
    values = {
        "listen_port": main_port,
        "overhead_port": overhead_port,
        "auth_port": ctx.services.auth_port,
        "content_port": ctx.content.port,
        "static_port": static_port,
        "keepalive_timeout": _nginx_time(idle),
        "keepalive_requests": defaults.keepalive_max,
        "nofile": ctx.nofile,
        "worker_connections": _worker_connections(ctx.nofile),
        "cache": "proxy_cache shared;" if ctx.nginx_cache else "",
    }
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(
            stopping(
                ctx.services.proxy(
                    f"proxy-{name}", free_port(), content_port or _port(ctx.content), extra
                )
            )
        )
        nginx = stack.enter_context(
            stopping(ctx.services.nginx(f"nginx-{name}", NGINX_TEMPLATE, values, main_port))
        )
        yield Pair(ours, nginx, main_port, overhead_port)


def _port(proc: Proc) -> int:
    assert proc.port is not None
    return proc.port


def url(port: int, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{port}{path}"


# --- measuring one side ------------------------------------------------------------------


def precheck(target: str, cookie: str | None, size: int) -> str:
    """One request before the load: it must be a 200 with exactly the file's bytes."""
    parts = urllib.parse.urlsplit(target)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=30, context=_UNVERIFIED)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", parts.path, headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"GET {target}: {exc}") from None
    finally:
        conn.close()
    if resp.status != 200 or len(body) != size:
        raise BenchError(
            f"GET {target}: expected 200 with {size} bytes, got {resp.status} "
            f"with {len(body)} bytes: {body[:200]!r}"
        )
    return f"{resp.status}, {len(body)} bytes"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load(
    ctx: Context,
    target: str,
    *,
    connections: int,
    cookie: str | None,
    cpu_of: Mapping[str, Proc],
    memory: MemoryWatch | None = None,
    warmup: bool = True,
) -> dict[str, object]:
    """Warm up, then one measured wrk run; CPU % per process over the measured run.

    `memory`, if given, was started by the caller (before anything it should count) and is
    stopped here, after the run.
    """
    if warmup and ctx.warmup > 0:
        wrk.run(
            target, seconds=ctx.warmup, connections=connections, cpu=ctx.cores.load, cookie=cookie
        )
    before = {name: cpu_seconds(proc.pids()) for name, proc in cpu_of.items()}
    wrk_before = _children_cpu()
    cores = {"load": ctx.cores.load, "sut": ctx.cores.sut}
    cores_before = {role: core_times(cpu) for role, cpu in cores.items() if cpu is not None}
    started = time.monotonic()
    result = wrk.run(
        target, seconds=ctx.duration, connections=connections, cpu=ctx.cores.load, cookie=cookie
    )
    elapsed = time.monotonic() - started
    cpu = {
        name: round(100 * (cpu_seconds(proc.pids()) - before[name]) / elapsed)
        for name, proc in cpu_of.items()
    }
    cpu["wrk"] = round(100 * (_children_cpu() - wrk_before) / elapsed)
    # How each pinned core spent the run: the systems' core near 100% busy means they were
    # the limit. "foreign" is busy time not used by the bench's own processes, plus time
    # stolen by the hypervisor: other load on the machine, which skews the figures.
    core_busy: dict[str, dict[str, int]] = {}
    foreign: dict[str, int] = {}
    ours_on = {
        "sut": sum(share for name, share in cpu.items() if name != "wrk"),
        "load": cpu["wrk"],
    }
    for role, cpu_id in cores.items():
        if cpu_id is None:
            continue
        now, then = core_times(cpu_id), cores_before[role]
        span = max(now["total"] - then["total"], 1)
        share = {key: round(100 * (now[key] - then[key]) / span) for key in now if key != "total"}
        core_busy[f"core{cpu_id}_{role}"] = share
        # A process's own CPU time includes the interrupt work done on its behalf.
        busy = share["processes"] + share["interrupts"]
        foreign[f"core{cpu_id}"] = max(busy - ours_on[role], 0) + share["steal"]
    side: dict[str, object] = {
        "url": target,
        "connections": connections,
        "wrk": result.as_dict(),
        "rps": round(result.rps, 1),
        "mb_s": round(result.mb_s, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "errors": result.error_count,
        "cpu_percent": cpu,
        # CPU time per request is less sensitive than req/s to other load on the machine.
        "cpu_us_per_request": {
            name: round(share * 10_000 / result.rps) if result.rps else None
            for name, share in cpu.items()
        },
        "core_busy_percent": core_busy,
        "foreign_cpu_percent": foreign,
    }
    if memory is not None:
        side["memory"] = memory.stop()
    return side


def scenario(
    number: int,
    title: str,
    unit: str,
    ours: dict[str, object],
    theirs: dict[str, object],
    *,
    short: str,
    theirs_label: str = "nginx",
    target: float | None = None,
    notes: list[str] | None = None,
) -> dict[str, object]:
    key = "mb_s" if unit == "MB/s" else "rps"
    ours_value, theirs_value = float(ours[key]), float(theirs[key])  # type: ignore[arg-type]
    ours.update(label="gatehouse", value=ours_value)
    theirs.update(label=theirs_label, value=theirs_value)
    errors = int(ours["errors"]) + int(theirs["errors"])  # type: ignore[call-overload]
    return {
        "id": number,
        "title": title,
        "short": short,
        "unit": unit,
        "ours": ours,
        "theirs": theirs,
        "ratio": round(ours_value / theirs_value, 3) if theirs_value else None,
        "target_ratio": target,
        "errors": errors,
        "notes": notes or [],
    }


def _backends(ctx: Context) -> dict[str, Proc]:
    return {"auth": ctx.auth, "content": ctx.content}


def _size(ctx: Context, relative: str) -> int:
    return (ctx.site / relative).stat().st_size


# --- the scenarios -----------------------------------------------------------------------


def both_sides(
    ctx: Context,
    pair: Pair,
    path: str,
    size: int,
    *,
    cookie: str | None,
    backends: Mapping[str, Proc],
    nginx_port: int | None = None,
    connections: int | None = None,
    watch_memory: bool = False,
    scheme: str = "http",
) -> list[dict[str, object]]:
    """The same measured load on our proxy, then on nginx, each checked first."""
    sides = []
    for name, proc, port in (
        ("proxy", pair.ours, _port(pair.ours)),
        ("nginx", pair.nginx, nginx_port or pair.nginx_main_port),
    ):
        target = url(port, path, scheme)
        memory = None
        if watch_memory:
            memory = MemoryWatch(proc.pids())
            memory.start()  # before the first big transfer (the precheck), on a fresh process
        sides.append(
            checked_load(
                ctx,
                target,
                size,
                cookie=cookie,
                cpu_of={name: proc, **backends},
                connections=connections,
                memory=memory,
            )
        )
    return sides


def checked_load(
    ctx: Context,
    target: str,
    size: int,
    *,
    cookie: str | None,
    cpu_of: Mapping[str, Proc],
    connections: int | None = None,
    memory: MemoryWatch | None = None,
) -> dict[str, object]:
    """`precheck`, then `load`: one side of a scenario, with what its first answer was."""
    checked = precheck(target, cookie, size)
    side = load(
        ctx,
        target,
        connections=connections or ctx.connections,
        cookie=cookie,
        cpu_of=cpu_of,
        memory=memory,
    )
    side["precheck"] = checked
    return side


def public_page(ctx: Context) -> dict[str, object]:
    size = _size(ctx, "index.html")
    with proxies(ctx, "s1") as pair:
        sides = both_sides(ctx, pair, "/", size, cookie=None, backends=_backends(ctx))
    return scenario(1, "public login page /", "req/s", *sides, short="public page", target=1.0)


def protected_image(ctx: Context) -> dict[str, object]:
    path = "/images/coast.jpg"
    size = _size(ctx, path.lstrip("/"))
    with proxies(ctx, "s2") as pair:
        sides = both_sides(ctx, pair, path, size, cookie=ctx.cookie, backends=_backends(ctx))
    return scenario(
        2,
        f"protected image {path} ({size // 1024} KB)",
        "req/s",
        *sides,
        short="protected image",
        target=1.5,
    )


def big_file(ctx: Context) -> dict[str, object]:
    path = "/" + BIG_FILE
    size = _size(ctx, BIG_FILE)
    with proxies(ctx, "s3") as pair:
        sides = both_sides(
            ctx,
            pair,
            path,
            size,
            cookie=ctx.cookie,
            backends=_backends(ctx),
            connections=ctx.big_connections,
            watch_memory=True,
        )
    growth = sides[0]["memory"]["rss_growth_mb"]  # type: ignore[index]
    notes = [f"proxy RSS growth {growth} MB (target < 32 MB)"]
    if growth >= 32:
        notes.append("RSS growth target missed")
    return scenario(
        3,
        f"{size / 1e6:.0f} MB file, valid session",
        "MB/s",
        *sides,
        short=f"{size / 1e6:.0f} MB file (MB/s)",
        target=0.9,
        notes=notes,
    )


def proxy_overhead(ctx: Context) -> dict[str, object]:
    path = "/static/logo.svg"
    size = _size(ctx, path.lstrip("/"))
    static = ctx.static_upstream()
    with proxies(ctx, "s4", content_port=_port(static)) as pair:
        sides = both_sides(
            ctx,
            pair,
            path,
            size,
            cookie=None,
            backends={"static-nginx": static},
            nginx_port=pair.nginx_overhead_port,
        )
    return scenario(
        4,
        f"proxy alone: static nginx upstream, {path}",
        "req/s",
        *sides,
        short="proxy alone",
        target=0.5,
    )


def held_connections(ctx: Context) -> dict[str, object]:
    """Hold N keep-alive connections, load 1,000 more with wrk, then recheck all N."""
    path = "/"
    size = _size(ctx, "index.html")
    # Idle held connections must outlive warm-up + run: both proxies get the same timeout.
    idle = float(ctx.warmup + ctx.duration + 60)
    notes = [f"both proxies with a {idle:.0f} s keep-alive idle timeout, so held ones stay"]
    with proxies(ctx, "s5", keepalive_timeout=idle) as pair:
        sides = []
        for name, proc, port in (
            ("proxy", pair.ours, _port(pair.ours)),
            ("nginx", pair.nginx, pair.nginx_main_port),
        ):
            target = url(port, path)
            checked = precheck(target, None, size)
            memory = MemoryWatch(proc.pids())
            memory.start()
            held_rss: list[float] = []

            def during(
                target: str = target,
                name: str = name,
                proc: Proc = proc,
                memory: MemoryWatch = memory,
            ) -> dict[str, object]:
                return load(
                    ctx,
                    target,
                    connections=ctx.hold_load_connections,
                    cookie=None,
                    cpu_of={name: proc, **_backends(ctx)},
                    memory=memory,
                )

            def after_open(proc: Proc = proc, held_rss: list[float] = held_rss) -> None:
                held_rss.append(round(rss_mb(proc.pids()), 1))

            report, side = asyncio.run(
                hold.hold_while(port, ctx.hold_count, path, during, after_open=after_open)
            )
            side["precheck"] = checked
            side["hold"] = {**report.as_dict(), "rss_while_held_mb": held_rss[0]}
            side["errors"] = int(side["errors"]) + report.error_count  # type: ignore[call-overload]
            sides.append(side)
    for side, label in zip(sides, ("gatehouse", "nginx"), strict=True):
        held = side["hold"]  # type: ignore[index]
        notes.append(
            f"{label}: {held['opened']}/{held['target']} opened in {held['open_seconds']} s, "
            f"{held['still_answering']} still answering after the load, "
            f"{held['error_count']} errors"
        )
    ours_mem = sides[0]["memory"]  # type: ignore[index]
    notes.append(
        f"proxy RSS with {ctx.hold_count} held: {sides[0]['hold']['rss_while_held_mb']} MB, "  # type: ignore[index]
        f"peak under load {ours_mem['rss_peak_mb']} MB (target < 300 MB)"
    )
    return scenario(
        5,
        f"{ctx.hold_count} held + wrk -c {ctx.hold_load_connections} on /",
        "req/s",
        *sides,
        short=f"{ctx.hold_count} held + {ctx.hold_load_connections} loaded",
        notes=notes,
    )


def content_direct(ctx: Context) -> dict[str, object]:
    path = "/index.html"
    size = _size(ctx, path.lstrip("/"))
    with stopping(ctx.services.staticfiles(ctx.site, free_port())) as baseline:
        sides = []
        for name, proc in (("content", ctx.content), ("staticfiles", baseline)):
            target = url(_port(proc), path)
            sides.append(checked_load(ctx, target, size, cookie=None, cpu_of={name: proc}))
    return scenario(
        6,
        f"content service alone, {path}",
        "req/s",
        *sides,
        short="content service alone",
        theirs_label="StaticFiles",
        target=5.0,
    )


def post_login(conn: http.client.HTTPConnection, userid: str, password: str, name: str) -> str:
    """POST /login on `conn`; return the `NAME=...` cookie pair it sets (303 expected)."""
    try:
        body = urllib.parse.urlencode({"userid": userid, "passwd": password})
        conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    cookie = (resp.getheader("Set-Cookie") or "").split(";", 1)[0]
    if resp.status != 303 or not cookie.startswith(f"{name}="):
        raise BenchError(f"POST /login: expected 303 with a {name} cookie, got {resp.status}")
    return cookie


def tls_login(port: int, services: Services) -> str:
    """POST /login through our proxy over TLS; return the `__Host-session=...` pair."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=_UNVERIFIED)
    return post_login(conn, services.userid, services.password, "__Host-session")


def https_image(ctx: Context) -> dict[str, object]:
    """Scenario 2 over HTTPS: both proxies terminate TLS with the same certificate."""
    path = "/images/coast.jpg"
    size = _size(ctx, path.lstrip("/"))
    certs = devcerts.write(ctx.services.tmp / "tls")
    defaults = ctx.proxy_defaults
    ours_port, nginx_port = free_port(), free_port()
    values = {
        "listen_port": nginx_port,
        "auth_port": ctx.services.auth_port,
        "content_port": _port(ctx.content),
        "tls_cert": certs.cert,
        "tls_key": certs.key,
        "tls12_ciphers": tls.TLS12_CIPHERS,
        "keepalive_timeout": _nginx_time(defaults.keepalive_timeout),
        "keepalive_requests": defaults.keepalive_max,
        "nofile": ctx.nofile,
        "worker_connections": _worker_connections(ctx.nofile),
    }
    extra = {**ctx.proxy_env, "PROXY_TLS_CERT": str(certs.cert), "PROXY_TLS_KEY": str(certs.key)}
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(
            stopping(ctx.services.proxy("proxy-s7", ours_port, _port(ctx.content), extra))
        )
        nginx = stack.enter_context(
            stopping(ctx.services.nginx("nginx-s7", NGINX_TLS_TEMPLATE, values, nginx_port))
        )
        cookie = tls_login(ours_port, ctx.services)
        pair = Pair(ours, nginx, nginx_port, 0)
        sides = both_sides(
            ctx, pair, path, size, cookie=cookie, backends=_backends(ctx), scheme="https"
        )
    return scenario(
        7,
        f"protected image {path} over HTTPS ({size // 1024} KB)",
        "req/s",
        *sides,
        short="protected image, HTTPS",
        notes=["both terminate TLS with the same certificate; keep-alive, so few handshakes"],
    )


def workers(ctx: Context) -> dict[str, object]:
    """Scenario 4's load on PROXY_WORKERS=1 and then 2. Neither is pinned: two workers need
    both cores, which wrk shares, so the figures are indicative only."""
    path = "/static/logo.svg"
    size = _size(ctx, path.lstrip("/"))
    static = ctx.static_upstream()
    sides = []
    for count in (1, 2):
        extra = {**ctx.proxy_env, "PROXY_WORKERS": str(count)}
        name = f"proxy-s8-{count}w"
        with stopping(
            ctx.services.proxy(name, free_port(), _port(static), extra, pinned=False)
        ) as proxy:
            target = url(_port(proxy), path)
            cpu_of = {"proxy": proxy, "static-nginx": static}
            sides.append(checked_load(ctx, target, size, cookie=None, cpu_of=cpu_of))
    return scenario(
        8,
        f"PROXY_WORKERS=1 vs 2, static nginx upstream, {path} (unpinned)",
        "req/s",
        *sides,
        short="1 vs 2 workers",
        theirs_label="2 workers",
        notes=["both proxies unpinned, sharing the two cores with wrk: indicative only"],
    )


REPLICAS = 3


def replica_kill(ctx: Context) -> dict[str, object]:
    """Three content replicas behind each proxy (our response cache off, so that requests
    reach them); a third into each run one replica is SIGKILLed. Counts the failed requests
    (5xx and cut connections) for our proxy and for nginx with proxy_next_upstream."""
    path = "/static/style.css"
    ports = [free_port() for _ in range(REPLICAS)]
    replicas: list[Proc | None] = [None] * REPLICAS
    sides = []
    notes = []
    try:
        for name in ("ours", "nginx"):
            for i, port in enumerate(ports):  # all three up (again) before each side
                if replicas[i] is None or not replicas[i].alive():  # type: ignore[union-attr]
                    replicas[i] = ctx.services.content(ctx.site, port)
            listen = free_port()
            if name == "ours":
                extra = {
                    **ctx.proxy_env,
                    "CONTENT_UPSTREAMS": ",".join(f"127.0.0.1:{p}" for p in ports),
                    "PROXY_CACHE_BYTES": "0",
                }
                proxy = ctx.services.proxy("proxy-s9", listen, ports[0], extra)
            else:
                servers = " ".join(
                    f"server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;" for p in ports
                )
                values = {
                    "listen_port": listen,
                    "servers": servers,
                    "nofile": ctx.nofile,
                    "worker_connections": _worker_connections(ctx.nofile),
                }
                proxy = ctx.services.nginx("nginx-s9", NGINX_REPLICAS_TEMPLATE, values, listen)
            with stopping(proxy):
                target = url(listen, path)
                checked = precheck(target, None, _size(ctx, path.lstrip("/")))
                victim = replicas[1]
                assert victim is not None
                timer = threading.Timer(ctx.duration / 3, os.kill, (victim.pid, signal.SIGKILL))
                timer.start()
                try:
                    result = wrk.run(
                        target,
                        seconds=ctx.duration,
                        connections=ctx.connections,
                        cpu=ctx.cores.load,
                    )
                finally:
                    timer.cancel()
                killed = victim.proc.poll() == -signal.SIGKILL
                victim.stop()
            side: dict[str, object] = {
                "url": target,
                "connections": ctx.connections,
                "wrk": result.as_dict(),
                "rps": round(result.rps, 1),
                "p50_ms": round(result.p50_ms, 2),
                "p99_ms": round(result.p99_ms, 2),
                "errors": result.error_count,
                "precheck": checked,
            }
            sides.append(side)
            label = "gatehouse" if name == "ours" else "nginx"
            notes.append(
                f"{label}: {result.error_count} failed of {result.requests} requests "
                f"({', '.join(f'{k} {v}' for k, v in result.errors.items() if v) or 'none'}); "
                f"replica SIGKILLed at {ctx.duration / 3:.1f} s: {'yes' if killed else 'NO'}"
            )
    finally:
        for proc in replicas:
            if proc is not None:
                proc.stop()
    result_dict = scenario(
        9,
        f"{REPLICAS} content replicas, one SIGKILLed a third into the run, {path}",
        "req/s",
        *sides,
        short="replica killed",
        notes=notes,
    )
    # Failed requests are this scenario's measurement (in the notes), not a bench failure.
    result_dict["failed_requests"] = {"gatehouse": sides[0]["errors"], "nginx": sides[1]["errors"]}
    result_dict["errors"] = 0
    return result_dict


STALLED_MAX = 1000  # scenario 10: at most this many stalled downloads (fewer with --hold)


def stalled_downloads(ctx: Context) -> dict[str, object]:
    """Clients that request the big file and then read nothing (issue 9): the memory each
    holds in the proxy, and in the content service behind it.

    The content service is shared by both sides and keeps what its allocator grew to, so its
    figure is taken on our side only (measured first).
    """
    path = "/" + BIG_FILE
    count = min(ctx.hold_count, STALLED_MAX)
    with proxies(ctx, "s10") as pair:
        sides = [
            _stall(ctx, pair.ours, _port(pair.ours), path, count),
            _stall(ctx, pair.nginx, pair.nginx_main_port, path, count),
        ]
    ours, theirs = sides
    ours.update(label="gatehouse", value=ours["proxy_kib_each"])
    theirs.update(label="nginx", value=theirs["proxy_kib_each"])
    notes = [
        f"{count} clients each request the {_size(ctx, BIG_FILE) / 1e6:.0f} MB file and read "
        "nothing; RSS growth per stalled download once it settles (target: proxy <= 128 KiB)",
        f"gatehouse: proxy {ours['proxy_kib_each']} KiB, content service "
        f"{ours['content_kib_each']} KiB per stalled download",
        f"nginx: {theirs['proxy_kib_each']} KiB per stalled download (it buffers the rest "
        "of the response to a temporary file)",
    ]
    return {
        "id": 10,
        "title": f"{count} stalled downloads, RSS per download",
        "short": "stalled downloads (KiB each)",
        "unit": "KiB each",
        "ours": ours,
        "theirs": theirs,
        "ratio": None,  # lower is better here: kept out of the throughput chart
        "target_ratio": None,
        "errors": int(ours["errors"]) + int(theirs["errors"]),  # type: ignore[call-overload]
        "notes": notes,
    }


def _stall(ctx: Context, proxy: Proc, port: int, path: str, count: int) -> dict[str, object]:
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {ctx.cookie}\r\n\r\n".encode()
    watched = {"proxy": proxy.pids(), "content": ctx.content.pids()}
    before = {name: rss_mb(pids) for name, pids in watched.items()}
    socks: list[socket.socket] = []
    errors = 0
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(sock)
            sock.sendall(request)
        _all_answering(socks)
        after = _settled_rss(watched)
        for sock in socks:
            try:
                if not sock.recv(12, socket.MSG_PEEK).startswith(b"HTTP/1.1 200"):
                    errors += 1
            except OSError:
                errors += 1
    finally:
        for sock in socks:
            sock.close()
    time.sleep(1)  # let both notice the clients are gone before the next side

    def each(name: str) -> float:
        return round((after[name] - before[name]) * 1024 / count, 1)

    return {
        "stalled": count,
        "rss_before_mb": {k: round(v, 1) for k, v in before.items()},
        "rss_stalled_mb": {k: round(v, 1) for k, v in after.items()},
        "proxy_kib_each": each("proxy"),
        "content_kib_each": each("content"),
        "p50_ms": 0.0,
        "p99_ms": 0.0,
        "errors": errors,
    }


def _all_answering(socks: list[socket.socket], limit: float = 60.0) -> None:
    """Wait until every client has the start of its response waiting to be read."""
    waiting = list(socks)
    deadline = time.monotonic() + limit
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(waiting[:512], [], [], 1.0)
        waiting = [sock for sock in waiting if sock not in ready]


def _settled_rss(watched: Mapping[str, list[int]], limit: float = 60.0) -> dict[str, float]:
    """RSS once it stops growing (within 1% over three samples 1 s apart), at most `limit` s."""
    deadline = time.monotonic() + limit
    samples = [{name: rss_mb(pids) for name, pids in watched.items()}]
    while time.monotonic() < deadline:
        time.sleep(1.0)
        samples.append({name: rss_mb(pids) for name, pids in watched.items()})
        recent = samples[-3:]
        if len(recent) == 3 and all(
            max(x[k] for x in recent) - min(x[k] for x in recent) <= 0.01 * recent[0][k]
            for k in recent[0]
        ):
            break
    return samples[-1]


SCENARIOS: dict[int, Callable[[Context], dict[str, object]]] = {
    1: public_page,
    2: protected_image,
    3: big_file,
    4: proxy_overhead,
    5: held_connections,
    6: content_direct,
    7: https_image,
    8: workers,
    9: replica_kill,
    10: stalled_downloads,
}
