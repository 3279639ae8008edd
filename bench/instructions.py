"""`make bench-instructions`: CPU instructions per proxied request, counted by callgrind.

    python -m bench.instructions [--requests 200,2200] [--connections 4] [--out bench/results]

Scenario 4's setup: our proxy alone (one worker, the bench's settings, its response cache
off as in scenario 4) in front of a static nginx serving /static/logo.svg. The proxy runs
under `valgrind --tool=callgrind` twice, serving N1 and then N2 requests from a plain blocking
client; the difference of the two instruction totals over N2 - N1 is the cost of one
request, without the start-up and shut-down both runs share. Unlike req/s it hardly moves
with other load on the machine, so it shows a change of the hot path of a percent or two.
Writes OUT/instructions.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

if __package__ in (None, ""):  # `python bench/instructions.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.processes import (
    LOOPBACK,
    BenchError,
    Cores,
    Proc,
    Services,
    find_tool,
    free_port,
    raise_nofile,
    wait_for_port,
)
from bench.run import prepare_site
from bench.scenarios import static_nginx, stopping

ROUTES = {"public": "/static/logo.svg"}  # scenario 4's file; "protected" may come later
# Under callgrind Python runs ~50x slower: importing the proxy alone takes tens of seconds.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 120.0
REQUEST_TIMEOUT = 60.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", default="200,2200", help="N1,N2 (default 200,2200)")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections (4)")
    parser.add_argument("--route", choices=sorted(ROUTES), default="public")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument(
        "--start-timeout", type=float, default=START_TIMEOUT, help="seconds to wait for the port"
    )
    parser.add_argument(
        "--proxy-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for our proxy, e.g. UPSTREAM_HEALTH_INTERVAL=0 (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        args.n1, args.n2 = (int(part) for part in args.requests.split(","))
    except ValueError:
        parser.error(f"--requests: expected N1,N2 like 200,2200, got {args.requests!r}")
    if not 0 < args.n1 < args.n2 or args.connections < 1:
        parser.error("--requests needs 0 < N1 < N2, --connections >= 1")
    if any("=" not in pair for pair in args.proxy_env):
        parser.error("--proxy-env: expected NAME=VALUE")
    return args


def parse_total(callgrind_out: str) -> int:
    """The instruction count of a callgrind output file: its `totals:` line, or `summary:`."""
    found: dict[str, int] = {}
    for line in callgrind_out.splitlines():
        name, _, rest = line.partition(":")
        if name in ("totals", "summary") and rest.split():
            found[name] = int(rest.split()[0])
    if not found:
        raise BenchError("callgrind's output has no totals: or summary: line")
    return found.get("totals", found.get("summary", 0))


def per_request(n1: int, total1: int, n2: int, total2: int) -> float:
    """What the N2 - N1 extra requests cost each: start-up and shut-down cancel out."""
    if n2 <= n1:
        raise ValueError("N2 must be larger than N1")
    return (total2 - total1) / (n2 - n1)


def short(count: float) -> str:
    """4.1e9 rather than 4.1e+09."""
    mantissa, exponent = f"{count:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def drive(port: int, path: str, expected: bytes, count: int, connections: int) -> None:
    """`count` GETs, in turn on each of `connections` keep-alive connections; each must be a
    200 with exactly the file. (http.client reconnects when the proxy closes one after
    KEEPALIVE_MAX requests, as a browser would.)"""
    conns = [
        http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT)
        for _ in range(connections)
    ]
    try:
        for i in range(count):
            conn = conns[i % connections]
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                raise BenchError(f"request {i + 1} of {count}: GET {path}: {exc!r}") from None
            if resp.status != 200 or body != expected:
                raise BenchError(
                    f"request {i + 1} of {count}: GET {path}: expected 200 with "
                    f"{len(expected)} bytes, got {resp.status} with {len(body)} bytes"
                )
    finally:
        for conn in conns:
            conn.close()


def count_instructions(
    services: Services,
    upstream_port: int,
    path: str,
    expected: bytes,
    requests: int,
    args: argparse.Namespace,
) -> dict[str, object]:
    """One proxy under callgrind serving `requests` requests; its instruction total."""
    out_file = services.tmp / f"callgrind.{requests}.out"
    port = free_port()
    env = {
        **services.proxy_env(port, upstream_port),
        "PROXY_WORKERS": "1",  # one process: callgrind follows no children
        "PYTHONHASHSEED": "0",  # the same dict and set layouts in both runs
        "PROXY_CACHE_BYTES": "0",  # pure proxying, as in scenario 4 (--proxy-env overrides)
        **dict(pair.split("=", 1) for pair in args.proxy_env),
    }
    argv = [
        "nice",  # counts do not depend on priority; another engineer's runs on this machine do
        "-n19",
        find_tool("valgrind") or "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        "-m",
        "proxy",
    ]
    proc = Proc(
        f"callgrind-{requests}", argv, log=services.tmp / f"callgrind.{requests}.log", env=env
    )
    try:
        started = time.monotonic()
        wait_for_port(port, proc.proc, timeout=args.start_timeout)
        start_seconds = time.monotonic() - started
        started = time.monotonic()
        drive(port, path, expected, requests, args.connections)
        load_seconds = time.monotonic() - started
    except BenchError as exc:
        proc.stop(timeout=10)
        raise BenchError(f"proxy under callgrind: {exc}\n{proc.tail()}") from None
    proc.stop(timeout=STOP_TIMEOUT)  # SIGTERM: graceful shutdown, then callgrind writes
    if proc.proc.returncode != 0 or not out_file.exists():
        raise BenchError(
            f"proxy under callgrind exited with {proc.proc.returncode}, "
            f"{'with' if out_file.exists() else 'without'} its output file\n{proc.tail()}"
        )
    return {
        "requests": requests,
        # The proxy's start-up line says which modules it runs (proxy/compiled.py).
        "modules": "compiled" if "compiled with mypyc" in proc.log.read_text() else "python",
        "instructions": parse_total(out_file.read_text()),
        "start_seconds": round(start_seconds, 1),
        "load_seconds": round(load_seconds, 1),
    }


def _version(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    return "?"


def run(args: argparse.Namespace) -> dict[str, object]:
    nofile, _ = raise_nofile()
    path = ROUTES[args.route]
    with tempfile.TemporaryDirectory(prefix="gatehouse-instructions-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # nginx's worker runs as another user when we are root
        site = prepare_site(tmp, 0)
        expected = (site / path.lstrip("/")).read_bytes()
        services = Services(
            tmp=tmp, cores=Cores(None, None), auth_port=free_port(), secret=secrets.token_hex(16)
        )
        with contextlib.ExitStack() as stack:
            # As in scenario 4, the auth service is up: the proxy's health checks reach it.
            stack.enter_context(stopping(services.auth()))
            static = stack.enter_context(stopping(static_nginx(services, site, nofile)))
            assert static.port is not None
            runs = []
            for requests in (args.n1, args.n2):
                print(f"bench: callgrind, {requests} requests", file=sys.stderr, flush=True)
                runs.append(
                    count_instructions(services, static.port, path, expected, requests, args)
                )
    totals: list[int] = [r["instructions"] for r in runs]  # type: ignore[misc]
    return {
        "generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "route": args.route,
        "path": path,
        "connections": args.connections,
        "proxy_env": args.proxy_env,
        "runs": runs,
        "instructions_per_request": round(per_request(args.n1, totals[0], args.n2, totals[1])),
        "modules": runs[0]["modules"],
        "python": platform.python_version(),
        "valgrind": _version([find_tool("valgrind") or "valgrind", "--version"]),
    }


def summary_line(data: Mapping[str, object]) -> str:
    runs: list[dict[str, int]] = data["runs"]  # type: ignore[assignment]
    counts = ", ".join(
        f"N{i}={r['requests']} -> {short(r['instructions'])}" for i, r in enumerate(runs, 1)
    )
    return (
        f"instructions per proxied request: {data['instructions_per_request']:,} "
        f"({data['modules']} modules; {counts})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [cmd for cmd in ("valgrind", "nginx") if find_tool(cmd) is None]
    if missing:
        print(f"bench: missing commands: {', '.join(missing)} (Debian packages)", file=sys.stderr)
        return 2
    try:
        data = run(args)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(summary_line(data))
    report.write_json(args.out / "instructions.json", data)
    print(f"wrote {args.out / 'instructions.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
