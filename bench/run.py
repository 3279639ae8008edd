"""`make bench`: run issue 4's scenarios for Gatehouse and its yardsticks in one run.

    python -m bench.run [--duration 10] [--warmup 2] [--connections 64] [--rounds 3]
                        [--scenarios 1,2,4] [--smoke] [--out bench/results]

Starts everything itself on free loopback ports (our three services, nginx doing the same
job, a static nginx upstream for scenario 4, Starlette's StaticFiles for scenario 6), logs
in once, and measures each scenario with wrk pinned to one core while the systems under
test share the other, in rounds that alternate which side goes first. Prints a table and
writes OUT/latest.json, OUT/latest.md and OUT/latest.png.
Exits 1 if any scenario failed or saw an error (non-2xx, socket errors, a lost connection).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, scenarios
from bench.processes import (
    BenchError,
    Cores,
    Services,
    find_tool,
    free_port,
    missing_tools,
    pick_cores,
    raise_nofile,
)
from content_service.config import SHIPPED_SITE

FULL = {
    "duration": 10,
    "warmup": 2,
    "connections": 64,
    "rounds": 3,
    "big_mb": 50,
    "hold": 5000,
    "load": 1000,
}
SMOKE = {
    "duration": 1,
    "warmup": 0,
    "connections": 16,
    "rounds": 1,
    "big_mb": 4,
    "hold": 200,
    "load": 50,
}
BIG_CONNECTIONS = 4  # scenario 3: a few parallel 50 MB downloads


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, help="seconds per measured run (10; smoke 1)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before each (2; smoke 0)")
    parser.add_argument("--connections", type=int, help="wrk connections (64; smoke 16)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="measured runs per side, alternating which goes first (3; smoke 1)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(str(number) for number in scenarios.SCENARIOS),
        help="which ones, e.g. 1,2,4 (default: all)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, ~1 s per run (tests)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="output folder")
    parser.add_argument("--big-mb", type=int, help="scenario 3 file size in MB (50; smoke 4)")
    parser.add_argument("--hold", type=int, help="scenario 5 held connections (5000; smoke 200)")
    parser.add_argument("--hold-load", type=int, help="scenario 5 wrk connections (1000)")
    parser.add_argument(
        "--proxy-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for our proxy only, e.g. AUTH_CACHE_TTL=0 (repeatable)",
    )
    parser.add_argument(
        "--nginx-cache",
        action="store_true",
        help="let nginx cache the content service's responses (proxy_cache) in every "
        "scenario (1 and 2 always measure a caching nginx too, as row 1c/2c)",
    )
    args = parser.parse_args(argv)
    defaults = SMOKE if args.smoke else FULL
    for name, value in defaults.items():
        attr = "hold_load" if name == "load" else name
        if getattr(args, attr) is None:
            setattr(args, attr, value)
    try:
        args.scenario_ids = sorted({int(part) for part in args.scenarios.split(",") if part})
    except ValueError:
        parser.error(f"--scenarios: expected numbers like 1,2,4, got {args.scenarios!r}")
    unknown = set(args.scenario_ids) - set(scenarios.SCENARIOS)
    if unknown:
        parser.error(f"--scenarios: no scenario {sorted(unknown)}")
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.rounds < 1:
        parser.error(
            "--duration must be >= 1 s, --warmup >= 0 s, --connections >= 1, --rounds >= 1"
        )
    for pair in args.proxy_env:
        if "=" not in pair:
            parser.error(f"--proxy-env: expected NAME=VALUE, got {pair!r}")
    return args


def prepare_site(tmp: Path, big_bytes: int) -> Path:
    """A copy of the shipped site plus the big file, readable by nginx's worker user."""
    site = tmp / "site"
    shutil.copytree(SHIPPED_SITE, site)
    with (site / scenarios.BIG_FILE).open("wb") as f:
        chunk = os.urandom(1 << 20)
        for offset in range(0, big_bytes, len(chunk)):
            f.write(chunk[: big_bytes - offset])
    for path in (site, *site.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return site


def login(port: int, userid: str, password: str) -> str:
    """POST /login to the auth service; return the `session=...` cookie pair."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    return scenarios.post_login(conn, userid, password, "session")


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    return (done.stdout + done.stderr).strip().splitlines()[0] if done.stdout + done.stderr else "?"


def machine_info(cores: Cores, nofile: tuple[int, int]) -> dict[str, object]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "pinning": cores.describe(),
        "cores": {"load": cores.load, "sut": cores.sut},
        "python": platform.python_version(),
        "nginx": _version([find_tool("nginx") or "nginx", "-v"]),
        "wrk": _version([find_tool("wrk") or "wrk", "-v"]),
        "nofile_soft": nofile[0],
        "nofile_hard": nofile[1],
    }


def fit_hold(args: argparse.Namespace, nofile: int) -> str | None:
    """Shrink scenario 5 if the open-files limit cannot hold it; say so."""
    need = args.hold + 2 * args.hold_load + 256
    if nofile >= need:
        return None
    wanted = args.hold
    args.hold = max(nofile - 2 * args.hold_load - 256, 0)
    return (
        f"ulimit -n is {nofile} (hard limit): scenario 5 needs about {need} descriptors per "
        f"process, so it holds {args.hold} connections instead of {wanted}"
    )


def run(args: argparse.Namespace) -> dict[str, object]:
    nofile = raise_nofile()
    cores = pick_cores()
    if cores.load is not None:
        os.sched_setaffinity(0, {cores.load})  # this process (scenario 5's client) too
    hold_note = fit_hold(args, nofile[0])
    data: dict[str, object] = {
        "generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(cores, nofile),
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "rounds": args.rounds,
            "big_file_mb": args.big_mb,
            "hold": args.hold,
            "hold_load": args.hold_load,
            "smoke": args.smoke,
            "proxy_env": args.proxy_env,
            "nginx_cache": args.nginx_cache,
        },
        "scenarios": [],
    }
    results: list[dict[str, object]] = data["scenarios"]  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # nginx's worker runs as another user when we are root
        site = prepare_site(tmp, args.big_mb * 1_000_000)
        services = Services(
            tmp=tmp, cores=cores, auth_port=free_port(), secret=secrets.token_hex(16)
        )
        with contextlib.ExitStack() as stack:
            auth = stack.enter_context(scenarios.stopping(services.auth()))
            content = stack.enter_context(scenarios.stopping(services.content(site, free_port())))
            ctx = scenarios.Context(
                services=services,
                cores=cores,
                site=site,
                auth=auth,
                content=content,
                cookie=login(services.auth_port, services.userid, services.password),
                duration=args.duration,
                warmup=args.warmup,
                connections=args.connections,
                big_connections=min(BIG_CONNECTIONS, args.connections),
                hold_count=args.hold,
                hold_load_connections=args.hold_load,
                nofile=nofile[0],
                stack=stack,
                proxy_env=dict(pair.split("=", 1) for pair in args.proxy_env),
                nginx_cache=args.nginx_cache,
                rounds=args.rounds,
            )
            for number in args.scenario_ids:
                fn = scenarios.SCENARIOS[number]
                print(f"bench: scenario {number} ({fn.__name__})", file=sys.stderr, flush=True)
                try:
                    result = fn(ctx)
                except (BenchError, OSError) as exc:
                    result = {"id": number, "title": fn.__name__, "failed": str(exc), "errors": 1}
                except Exception:  # a bug in the bench: keep it, go on with the others
                    failure = traceback.format_exc()
                    print(failure, file=sys.stderr)
                    result = {"id": number, "title": fn.__name__, "failed": failure, "errors": 1}
                if number == 5 and hold_note:
                    result.setdefault("notes", []).append(hold_note)  # type: ignore[union-attr]
                results.append(result)
    data["errors"] = sum(int(r["errors"]) for r in results)  # type: ignore[call-overload]
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_tools()
    if missing:
        print(
            "bench: missing commands: "
            + ", ".join(f"{cmd} (Debian package {pkg})" for cmd, pkg in missing.items()),
            file=sys.stderr,
        )
        return 2
    data = run(args)
    print(report.format_table(data))
    out = args.out
    report.write_json(out / "latest.json", data)
    report.write_markdown(out / "latest.md", data)
    try:
        report.write_png(out / "latest.png", data)
    except ImportError:
        print(
            "bench: matplotlib is missing (pip install -r bench/requirements.txt)", file=sys.stderr
        )
        return 1
    print(f"\nwrote latest.json, latest.md and latest.png in {out}", file=sys.stderr)
    return 1 if data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
