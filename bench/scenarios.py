"""The six scenarios of issue 4 and issue 9's stalled downloads, each measuring our system
and its yardstick in the same run.

A scenario returns a plain dict (it goes to JSON as it is): for each side ("ours" and
"theirs", and for scenarios 1 and 2 also nginx with proxy_cache under "others") the median
and spread of its rounds with each round's figures, the CPU share and CPU time per request
of every process involved (to see which one saturates its core) and, where the issue asks,
the RSS of the proxy.
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
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import hold, stats, wrk
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
    rounds: int = 3  # --rounds: measured runs per side, in alternating order

    @property
    def proxy_defaults(self) -> ProxySettings:
        return ProxySettings.from_env({**os.environ, **self.proxy_env})

    def static_upstream(self) -> Proc:
        if self.static is None:
            proc = static_nginx(self.services, self.site, self.nofile)
            self.static = self.stack.enter_context(stopping(proc))
        return self.static


def static_nginx(services: Services, root: Path, nofile: int) -> Proc:
    """Scenario 4's upstream: one nginx worker serving `root`, as fast as a file can come."""
    port = free_port()
    values = {
        "listen_port": port,
        "root": root,
        "nofile": nofile,
        "worker_connections": _worker_connections(nofile),
    }
    return services.nginx("nginx-static", NGINX_STATIC_TEMPLATE, values, port)


@dataclass
class Pair:
    ours: Proc
    nginx: Proc
    nginx_main_port: int
    nginx_overhead_port: int
    nginx_cached: Proc | None = None  # the same nginx with proxy_cache (scenarios 1 and 2)


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
    cached_nginx: bool = False,
    response_cache: bool = True,
) -> Iterator[Pair]:
    """A fresh instance of our proxy and of nginx, with the same client keep-alive rules;
    with `cached_nginx`, also an nginx with proxy_cache (unless --nginx-cache made the
    first one cache already). Without `response_cache`, our proxy's cache is off, as
    nginx's is on the overhead port (--proxy-env still has the last word)."""
    defaults = ctx.proxy_defaults
    idle = keepalive_timeout if keepalive_timeout is not None else defaults.keepalive_timeout
    extra = {} if response_cache else {"PROXY_CACHE_BYTES": "0"}
    extra.update(ctx.proxy_env)
    if keepalive_timeout is not None:
        extra["KEEPALIVE_TIMEOUT"] = str(keepalive_timeout)
    static_port = ctx.static.port if ctx.static is not None and ctx.static.port else free_port()

    def start_nginx(name: str, cache: bool) -> tuple[Proc, int]:
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
            "cache": "proxy_cache shared;" if cache else "",
        }
        proc = ctx.services.nginx(name, NGINX_TEMPLATE, values, main_port)
        return proc, overhead_port

    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(
            stopping(
                ctx.services.proxy(
                    f"proxy-{name}", free_port(), content_port or _port(ctx.content), extra
                )
            )
        )
        nginx, overhead_port = start_nginx(f"nginx-{name}", ctx.nginx_cache)
        stack.enter_context(stopping(nginx))
        pair = Pair(ours, nginx, _port(nginx), overhead_port)
        if cached_nginx and not ctx.nginx_cache:
            pair.nginx_cached = start_nginx(f"nginx-cache-{name}", True)[0]
            stack.enter_context(stopping(pair.nginx_cached))
        yield pair


def _port(proc: Proc) -> int:
    assert proc.port is not None
    return proc.port


def url(port: int, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{port}{path}"


# --- measuring ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Side:
    """One system in a comparison: the process under test, the URL to load, and the
    backends whose CPU counts too."""

    name: str  # its key in the CPU figures: "proxy", "nginx", ...
    proc: Proc
    target: str
    backends: Mapping[str, Proc] = field(default_factory=dict)
    watch_memory: bool = False  # its RSS from before the precheck to after the last round

    @property
    def cpu_of(self) -> dict[str, Proc]:
        return {self.name: self.proc, **self.backends}


def measure(ctx: Context, side: Side, *, connections: int, cookie: str | None) -> dict[str, object]:
    """One measured wrk run: its figures, and the raw CPU seconds of each process over it."""
    cpu_of = side.cpu_of
    before = {name: cpu_seconds(proc.pids()) for name, proc in cpu_of.items()}
    before["wrk"] = _children_cpu()
    cores = {"load": ctx.cores.load, "sut": ctx.cores.sut}
    cores_before = {role: core_times(cpu) for role, cpu in cores.items() if cpu is not None}
    started = time.monotonic()
    result = wrk.run(
        side.target,
        seconds=ctx.duration,
        connections=connections,
        cpu=ctx.cores.load,
        cookie=cookie,
    )
    elapsed = time.monotonic() - started
    after = {name: cpu_seconds(proc.pids()) for name, proc in cpu_of.items()}
    after["wrk"] = _children_cpu()
    used = stats.cpu_deltas(before, after)
    cpu = {name: round(100 * seconds / elapsed) for name, seconds in used.items()}
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
    return {
        "url": side.target,
        "connections": connections,
        "wrk": result.as_dict(),
        "rps": round(result.rps, 1),
        "mb_s": round(result.mb_s, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "errors": result.error_count,
        "elapsed_s": round(elapsed, 3),
        "cpu_seconds": {name: round(seconds, 3) for name, seconds in used.items()},
        "cpu_percent": cpu,
        # CPU time per request is less sensitive than req/s to other load on the machine.
        "cpu_us_per_request": stats.us_per_request(used, result.requests),
        "core_busy_percent": core_busy,
        "foreign_cpu_percent": foreign,
    }


def compare(
    ctx: Context,
    sides: Sequence[Side],
    size: int,
    *,
    cookie: str | None,
    connections: int | None = None,
    one_round: Callable[[Side], dict[str, object]] | None = None,
) -> list[dict[str, object]]:
    """Check and warm up each side once, then `ctx.rounds` measured rounds, each side once
    per round, in an order that alternates (forwards, backwards, ...): the machine's noise
    and drift fall on every side alike. Returns each side's summary of its rounds.

    `one_round(side)` replaces the plain measured run (scenario 5 holds connections
    around it).
    """
    connections = connections or ctx.connections

    def plain(side: Side) -> dict[str, object]:
        return measure(ctx, side, connections=connections, cookie=cookie)

    run_one = one_round or plain
    memory = {i: MemoryWatch(side.proc.pids()) for i, side in enumerate(sides) if side.watch_memory}
    checked = []
    runs: list[list[dict[str, object]]] = [[] for _ in sides]
    try:
        for i, side in enumerate(sides):
            if i in memory:
                memory[i].start()  # before the first big transfer (the precheck)
            checked.append(precheck(side.target, cookie, size))
            if ctx.warmup > 0:
                wrk.run(
                    side.target,
                    seconds=ctx.warmup,
                    connections=connections,
                    cpu=ctx.cores.load,
                    cookie=cookie,
                )
        for number, order in enumerate(stats.round_orders(len(sides), ctx.rounds), 1):
            for position, i in enumerate(order, 1):
                run = run_one(sides[i])
                runs[i].append({"round": number, "position": position, **run})
    finally:
        watched = {i: watch.stop() for i, watch in memory.items()}
    summaries = []
    for i, side_runs in enumerate(runs):
        summary = summarize(side_runs)
        summary["precheck"] = checked[i]
        if i in watched:
            summary["memory"] = watched[i]
        summaries.append(summary)
    return summaries


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, object]:
    """One side over its rounds: the median of each figure, the spread of the throughput,
    totals, and CPU per request from the raw CPU seconds of all rounds together."""
    requests = sum(run["wrk"]["requests"] for run in runs)
    cpu: dict[str, float] = {}
    for run in runs:
        for name, seconds in run["cpu_seconds"].items():
            cpu[name] = cpu.get(name, 0.0) + seconds
    elapsed = sum(run["elapsed_s"] for run in runs)
    wrk_errors: dict[str, int] = {}
    foreign: dict[str, int] = {}
    for run in runs:
        for kind, count in run["wrk"]["errors"].items():
            wrk_errors[kind] = wrk_errors.get(kind, 0) + count
        for core, share in run["foreign_cpu_percent"].items():
            foreign[core] = max(foreign.get(core, 0), share)  # the worst round warns
    spreads = {key: stats.spread([run[key] for run in runs]) for key in ("rps", "mb_s")}
    middle = sorted(runs, key=lambda run: run["rps"])[(len(runs) - 1) // 2]
    return {
        "url": runs[0]["url"],
        "connections": runs[0]["connections"],
        "rounds": list(runs),
        "rps": round(spreads["rps"].median, 1),
        "mb_s": round(spreads["mb_s"].median, 1),
        "spread": {key: value.as_dict() for key, value in spreads.items()},
        "p50_ms": round(statistics.median(run["p50_ms"] for run in runs), 2),
        "p99_ms": round(statistics.median(run["p99_ms"] for run in runs), 2),
        "errors": sum(run["errors"] for run in runs),
        "wrk": {
            "requests": requests,
            "seconds": round(sum(run["wrk"]["seconds"] for run in runs), 3),
            "bytes": sum(run["wrk"]["bytes"] for run in runs),
            "errors": wrk_errors,
        },
        "cpu_seconds": {name: round(seconds, 3) for name, seconds in cpu.items()},
        "cpu_percent": {name: round(100 * seconds / elapsed) for name, seconds in cpu.items()},
        "cpu_us_per_request": stats.us_per_request(cpu, requests),
        "core_busy_percent": middle["core_busy_percent"],  # the median round's
        "foreign_cpu_percent": foreign,
    }


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
    cached: dict[str, object] | None = None,
) -> dict[str, object]:
    """The comparison's record; `cached` is nginx with proxy_cache, a second yardstick
    shown as row `<number>c`."""
    key = "mb_s" if unit == "MB/s" else "rps"
    ours.update(label="gatehouse", value=_median(ours, key))
    theirs.update(label=theirs_label, value=_median(theirs, key))
    errors = int(ours["errors"]) + int(theirs["errors"])  # type: ignore[call-overload]
    others = []
    if cached is not None:
        cached.update(label="nginx+proxy_cache", value=_median(cached, key))
        errors += int(cached["errors"])  # type: ignore[call-overload]
        others.append(
            {
                "row": f"{number}c",
                "theirs": cached,
                "ratio": _ratio(ours, cached),
                "target_ratio": None,  # issue 4 set its targets against plain nginx
            }
        )
    return {
        "id": number,
        "title": title,
        "short": short,
        "unit": unit,
        "ours": ours,
        "theirs": theirs,
        "ratio": _ratio(ours, theirs),
        "target_ratio": target,
        "errors": errors,
        "notes": notes or [],
        "others": others,
    }


def _median(side: dict[str, Any], key: str) -> float:
    spread = side.get("spread", {}).get(key)
    return float(spread["median"] if spread else side[key])


def _ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> float | None:
    value = stats.ratio(ours["value"], theirs["value"])
    return None if value is None else round(value, 3)


def _backends(ctx: Context) -> dict[str, Proc]:
    return {"auth": ctx.auth, "content": ctx.content}


def _size(ctx: Context, relative: str) -> int:
    return (ctx.site / relative).stat().st_size


# --- the scenarios -----------------------------------------------------------------------


def pair_sides(
    pair: Pair,
    path: str,
    *,
    backends: Mapping[str, Proc],
    nginx_port: int | None = None,
    scheme: str = "http",
    watch_memory: bool = False,
) -> list[Side]:
    """Our proxy and nginx (and nginx with proxy_cache, if the pair has one) on `path`."""
    sides = [
        Side("proxy", pair.ours, url(_port(pair.ours), path, scheme), backends, watch_memory),
        Side("nginx", pair.nginx, url(nginx_port or pair.nginx_main_port, path, scheme), backends),
    ]
    if pair.nginx_cached is not None:
        cached = pair.nginx_cached
        sides.append(Side("nginx", cached, url(_port(cached), path, scheme), backends))
    return sides


def public_page(ctx: Context) -> dict[str, object]:
    size = _size(ctx, "index.html")
    with proxies(ctx, "s1", cached_nginx=True) as pair:
        sides = pair_sides(pair, "/", backends=_backends(ctx))
        ours, theirs, *cached = compare(ctx, sides, size, cookie=None)
    return scenario(
        1,
        "public login page /",
        "req/s",
        ours,
        theirs,
        short="public page",
        target=1.0,
        cached=cached[0] if cached else None,
    )


def protected_image(ctx: Context) -> dict[str, object]:
    path = "/images/coast.jpg"
    size = _size(ctx, path.lstrip("/"))
    with proxies(ctx, "s2", cached_nginx=True) as pair:
        sides = pair_sides(pair, path, backends=_backends(ctx))
        ours, theirs, *cached = compare(ctx, sides, size, cookie=ctx.cookie)
    return scenario(
        2,
        f"protected image {path} ({size // 1024} KB)",
        "req/s",
        ours,
        theirs,
        short="protected image",
        target=1.5,
        cached=cached[0] if cached else None,
    )


def big_file(ctx: Context) -> dict[str, object]:
    path = "/" + BIG_FILE
    size = _size(ctx, BIG_FILE)
    with proxies(ctx, "s3") as pair:
        sides = pair_sides(pair, path, backends=_backends(ctx), watch_memory=True)
        results = compare(ctx, sides, size, cookie=ctx.cookie, connections=ctx.big_connections)
    growth = results[0]["memory"]["rss_growth_mb"]  # type: ignore[index]
    notes = [f"proxy RSS growth {growth} MB over all rounds (target < 32 MB)"]
    if growth >= 32:
        notes.append("RSS growth target missed")
    return scenario(
        3,
        f"{size / 1e6:.0f} MB file, valid session",
        "MB/s",
        *results,
        short=f"{size / 1e6:.0f} MB file (MB/s)",
        target=0.9,
        notes=notes,
    )


def proxy_overhead(ctx: Context) -> dict[str, object]:
    path = "/static/logo.svg"
    size = _size(ctx, path.lstrip("/"))
    static = ctx.static_upstream()
    # Pure proxying: every request goes upstream, both caches off (issue 13).
    with proxies(ctx, "s4", content_port=_port(static), response_cache=False) as pair:
        sides = pair_sides(
            pair, path, backends={"static-nginx": static}, nginx_port=pair.nginx_overhead_port
        )
        results = compare(ctx, sides, size, cookie=None)
    return scenario(
        4,
        f"proxy alone: static nginx upstream, {path}",
        "req/s",
        *results,
        short="proxy alone",
        target=0.5,
    )


def held_connections(ctx: Context) -> dict[str, object]:
    """Hold N keep-alive connections, load 1,000 more with wrk, then recheck all N; a fresh
    set of held connections in every round."""
    path = "/"
    size = _size(ctx, "index.html")
    # Idle held connections must outlive warm-up + run: both proxies get the same timeout.
    idle = float(ctx.warmup + ctx.duration + 60)
    notes = [f"both proxies with a {idle:.0f} s keep-alive idle timeout, so held ones stay"]

    def one_round(side: Side) -> dict[str, object]:
        memory = MemoryWatch(side.proc.pids())
        memory.start()
        held_rss: list[float] = []

        def during() -> dict[str, object]:
            return measure(ctx, side, connections=ctx.hold_load_connections, cookie=None)

        def after_open() -> None:
            held_rss.append(round(rss_mb(side.proc.pids()), 1))

        port = urllib.parse.urlsplit(side.target).port or 80
        report, run = asyncio.run(
            hold.hold_while(port, ctx.hold_count, path, during, after_open=after_open)
        )
        run["memory"] = memory.stop()
        run["hold"] = {**report.as_dict(), "rss_while_held_mb": held_rss[0]}
        run["errors"] = int(run["errors"]) + report.error_count  # type: ignore[call-overload]
        return run

    with proxies(ctx, "s5", keepalive_timeout=idle) as pair:
        sides = pair_sides(pair, path, backends=_backends(ctx))
        results = compare(
            ctx,
            sides,
            size,
            cookie=None,
            connections=ctx.hold_load_connections,
            one_round=one_round,
        )
    for side, label in zip(results, ("gatehouse", "nginx"), strict=True):
        rounds: list[dict[str, Any]] = side["rounds"]  # type: ignore[assignment]
        # The round that did worst stands for the side: held connections must all survive.
        worst = max(rounds, key=lambda r: (r["hold"]["error_count"], -r["hold"]["still_answering"]))
        side["hold"] = worst["hold"]
        side["memory"] = max((r["memory"] for r in rounds), key=lambda m: m["rss_peak_mb"])
        held = worst["hold"]
        notes.append(
            f"{label}: {held['opened']}/{held['target']} opened in {held['open_seconds']} s, "
            f"{held['still_answering']} still answering after the load, "
            f"{held['error_count']} errors (worst of {len(rounds)} rounds)"
        )
    ours_mem = results[0]["memory"]  # type: ignore[index]
    notes.append(
        f"proxy RSS with {ctx.hold_count} held: {results[0]['hold']['rss_while_held_mb']} MB, "  # type: ignore[index]
        f"peak under load {ours_mem['rss_peak_mb']} MB (target < 300 MB)"
    )
    return scenario(
        5,
        f"{ctx.hold_count} held + wrk -c {ctx.hold_load_connections} on /",
        "req/s",
        *results,
        short=f"{ctx.hold_count} held + {ctx.hold_load_connections} loaded",
        notes=notes,
    )


def content_direct(ctx: Context) -> dict[str, object]:
    path = "/index.html"
    size = _size(ctx, path.lstrip("/"))
    with stopping(ctx.services.staticfiles(ctx.site, free_port())) as baseline:
        sides = [
            Side("content", ctx.content, url(_port(ctx.content), path)),
            Side("staticfiles", baseline, url(_port(baseline), path)),
        ]
        results = compare(ctx, sides, size, cookie=None)
    return scenario(
        6,
        f"content service alone, {path}",
        "req/s",
        *results,
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
        sides = pair_sides(pair, path, backends=_backends(ctx), scheme="https")
        results = compare(ctx, sides, size, cookie=cookie)
    return scenario(
        7,
        f"protected image {path} over HTTPS ({size // 1024} KB)",
        "req/s",
        *results,
        short="protected image, HTTPS",
        notes=["both terminate TLS with the same certificate; keep-alive, so few handshakes"],
    )


def workers(ctx: Context) -> dict[str, object]:
    """Scenario 4's load on PROXY_WORKERS=1 and then 2. Neither is pinned: two workers need
    both cores, which wrk shares, so the figures are indicative only."""
    path = "/static/logo.svg"
    size = _size(ctx, path.lstrip("/"))
    static = ctx.static_upstream()
    with contextlib.ExitStack() as stack:
        sides = []
        for count in (1, 2):
            extra = {**ctx.proxy_env, "PROXY_WORKERS": str(count)}
            name = f"proxy-s8-{count}w"
            proxy = stack.enter_context(
                stopping(ctx.services.proxy(name, free_port(), _port(static), extra, pinned=False))
            )
            sides.append(Side("proxy", proxy, url(_port(proxy), path), {"static-nginx": static}))
        results = compare(ctx, sides, size, cookie=None)
    return scenario(
        8,
        f"PROXY_WORKERS=1 vs 2, static nginx upstream, {path} (unpinned)",
        "req/s",
        *results,
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
