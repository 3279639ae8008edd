"""Brute force against the login (issue 10), through the proxy, measured in one run.

    python -m bench.bruteforce [--guesses 500] [--concurrency 50] [--out bench/results]

An attacker on 127.0.0.1 sends `--guesses` wrong passwords for one real user id,
`--concurrency` at a time, over keep-alive connections. Meanwhile a legitimate user on
another address (127.0.0.2: the proxy puts the peer address in X-Forwarded-For, so a
different source address is a different client) logs in and loads the story page with an
image, again and again. Reported: the legitimate logins' latency (before and during the
attack), the auth service's RSS (before, peak, after), and what the attacker got: how many
guesses were checked at all before the ban, and how many were answered 429.

Starts its own auth service (production argon2id parameters unless --argon2-memory-kib
is given), content service and proxy on free loopback ports; writes OUT/bruteforce.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # `python bench/bruteforce.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auth_service.config import DEFAULT_ARGON2_MEMORY_KIB
from bench.processes import REPO, MemoryWatch, Proc, Services, free_port, pick_cores
from content_service.config import SHIPPED_SITE

ATTACKER, LEGITIMATE = "127.0.0.1", "127.0.0.2"
VICTIM = "victim"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MAX_SECONDS = 300  # every loop here is bounded in count and in time


def _post_login(conn: http.client.HTTPConnection, userid: str, password: str) -> int:
    body = urllib.parse.urlencode({"userid": userid, "passwd": password})
    conn.request("POST", "/login", body, FORM)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def attack(port: int, guesses: int, concurrency: int) -> Counter[int]:
    """`guesses` wrong passwords, `concurrency` connections each sending its share in turn."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS

    def worker(share: int) -> None:
        conn = http.client.HTTPConnection(ATTACKER, port, timeout=60)
        try:
            for _ in range(share):
                if time.monotonic() > deadline:
                    return
                try:
                    status = _post_login(conn, VICTIM, secrets.token_hex(8))
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(ATTACKER, port, timeout=60)
                    status = -1
                with lock:
                    statuses[status] += 1
        finally:
            conn.close()

    shares = [guesses // concurrency + (i < guesses % concurrency) for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, shares))
    return statuses


def legitimate_visits(
    port: int, userid: str, password: str, stop: threading.Event, at_least: int
) -> tuple[list[float], Counter[int]]:
    """Log in and browse from 127.0.0.2 until `stop` is set (and at least `at_least` times)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + MAX_SECONDS
    while (not stop.is_set() or len(latencies) < at_least) and time.monotonic() < deadline:
        conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=60, source_address=(LEGITIMATE, 0)
        )
        try:
            started = time.perf_counter()
            body = urllib.parse.urlencode({"userid": userid, "passwd": password})
            conn.request("POST", "/login", body, FORM)
            resp = conn.getresponse()
            resp.read()
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[resp.status] += 1
            cookie = (resp.getheader("Set-Cookie") or "").split(";", 1)[0]
            for path in ("/secret.html", "/images/coast.jpg"):
                conn.request("GET", path, headers={"Cookie": cookie})
                page = conn.getresponse()
                page.read()
                statuses[page.status] += 1
        except (OSError, http.client.HTTPException):
            statuses[-1] += 1
        finally:
            conn.close()
    return latencies, statuses


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(ordered[-1], 1),
    }


def _metric(port: int, name: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[",".join(sample.labels.values()) or name] = sample.value
    return found


def run(args: argparse.Namespace) -> dict[str, object]:
    cores = pick_cores()
    with tempfile.TemporaryDirectory(prefix="gatehouse-bruteforce-") as tmp_name:
        tmp = Path(tmp_name)
        services = Services(
            tmp=tmp, cores=cores, auth_port=free_port(), secret=secrets.token_hex(16)
        )
        extra = {}
        if args.argon2_memory_kib:
            extra["AUTH_ARGON2_MEMORY_KIB"] = str(args.argon2_memory_kib)
        env = {**os.environ, **extra, "AUTH_DATABASE_URL": f"sqlite:///{tmp / 'auth.db'}"}
        subprocess.run(
            [sys.executable, "-m", "auth_service", "adduser", VICTIM, "--password-stdin"],
            input=secrets.token_hex(16) + "\n",
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        os.environ.update(extra)  # the auth process inherits them
        with contextlib.ExitStack() as stack:
            auth: Proc = services.auth()
            stack.callback(auth.stop)
            content = services.content(SHIPPED_SITE, free_port())
            stack.callback(content.stop)
            proxy_port = free_port()
            proxy = services.proxy("proxy-bruteforce", proxy_port, content.port or 0)
            stack.callback(proxy.stop)

            stop = threading.Event()
            stop.set()
            baseline, _ = legitimate_visits(
                proxy_port, services.userid, services.password, stop, args.baseline
            )
            memory = MemoryWatch(auth.pids())
            memory.start()
            stop.clear()
            legit: dict[str, object] = {}

            def legit_user() -> None:
                legit["latencies"], legit["statuses"] = legitimate_visits(
                    proxy_port, services.userid, services.password, stop, args.baseline
                )

            visitor = threading.Thread(target=legit_user)
            visitor.start()
            started = time.monotonic()
            attacker = attack(proxy_port, args.guesses, args.concurrency)
            attack_seconds = time.monotonic() - started
            stop.set()
            visitor.join()
            time.sleep(1)  # let freed memory settle before the "after" figure
            mem = memory.stop()
            checks = _metric(services.auth_port, "gatehouse_auth_password_checks_total")
            bans = _metric(services.auth_port, "gatehouse_auth_bans_total")
    during = legit["latencies"]
    assert isinstance(during, list)
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {
            "guesses": args.guesses,
            "concurrency": args.concurrency,
            "argon2_memory_kib": args.argon2_memory_kib or DEFAULT_ARGON2_MEMORY_KIB,
            "login_max_retries": int(os.environ.get("LOGIN_MAX_RETRIES", "5")),
        },
        "attacker": {
            "statuses": dict(sorted(attacker.items())),
            "seconds": round(attack_seconds, 2),
            "guesses_per_second": round(args.guesses / attack_seconds, 1),
        },
        "legitimate_login_before": _percentiles(baseline),
        "legitimate_login_during": _percentiles(during),
        "legitimate_statuses": dict(sorted(legit["statuses"].items())),  # type: ignore[union-attr]
        "auth_memory": mem,
        # Every password the auth service hashed, minus the legitimate user's logins.
        "attacker_passwords_checked": checks.get("gatehouse_auth_password_checks_total", 0)
        - len(baseline)
        - len(during),
        "bans": bans,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bruteforce", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--guesses", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--baseline", type=int, default=10, help="legitimate logins before")
    parser.add_argument(
        "--argon2-memory-kib", type=int, default=0, help="test-only: lower argon2 memory cost"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    data = run(args)
    text = json.dumps(data, indent=2)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bruteforce.json").write_text(text + "\n")
    wrong = data["attacker"]["statuses"].get(401, 0)  # type: ignore[index]
    banned_after_limit = wrong <= data["settings"]["login_max_retries"]  # type: ignore[index]
    legit_ok = set(data["legitimate_statuses"]) <= {200, 303}  # type: ignore[arg-type]
    return 0 if banned_after_limit and legit_ok else 1


if __name__ == "__main__":
    sys.exit(main())
