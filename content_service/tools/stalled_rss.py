"""Memory per stalled download, and the 50 MB download time, of the content service.

    .venv/bin/python -m content_service.tools.stalled_rss [N] [--from DIR]

Starts `python -m content_service` (from DIR, default this checkout: give another
checkout to compare) on a free loopback port over a temporary root holding a 20 MB
and a 50 MB file, then:
1. opens N raw sockets (default 200) that each send `GET /20mb.bin` and read nothing,
   waits until the service's RSS stops growing, and prints (RSS - idle RSS) / N;
2. times full downloads of the 50 MB file with curl (`--cold`: from the disk each time).

Bounded: N is capped at 1000 and every wait has a deadline (issue 9, item 5).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1024 * 1024
TOKEN = "stalled-rss-token"
HERE = Path(__file__).resolve().parents[2]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settle(pid: int, deadline: float) -> int:
    """RSS once it has changed by less than 256 KiB in a second (or at the deadline)."""
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = rss_kib(pid)
        if abs(now - last) < 256:
            return now
        last = now
    return last


def evict(path: Path) -> None:
    """Drop one file's pages from the page cache (only this file's: the machine is shared)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def curl_seconds(port: int, path: str) -> float:
    url = f"http://127.0.0.1:{port}{path}"
    header = f"X-Gatehouse-Token: {TOKEN}"
    out = subprocess.run(
        ["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", "-H", header, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(out.stdout)


def start(checkout: Path, root: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CONTENT_PORT": str(port),
        "CONTENT_ROOT": str(root),
        "INTERNAL_TOKEN": TOKEN,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "content_service"],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"the content service did not listen; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=200)
    parser.add_argument("--from", dest="checkout", type=Path, default=HERE)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--cold", action="store_true", help="evict the 50 MB file from the page cache each run"
    )
    args = parser.parse_args()
    n = max(1, min(args.n, 1000))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        (root / "20mb.bin").write_bytes(os.urandom(20 * MB))
        (root / "50mb.bin").write_bytes(os.urandom(50 * MB))
        proc, port = start(args.checkout, root, Path(tmp) / "content.log")
        socks: list[socket.socket] = []
        try:
            # Warm up: the thread pool, the streaming path, the page cache.
            for _ in range(2):
                curl_seconds(port, "/50mb.bin")
            idle = settle(proc.pid, time.monotonic() + 10)
            request = f"GET /20mb.bin HTTP/1.1\r\nHost: x\r\nX-Gatehouse-Token: {TOKEN}\r\n\r\n"
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(request.encode())
                socks.append(s)
            loaded = settle(proc.pid, time.monotonic() + 30)
            print(f"{n} stalled downloads: RSS {idle} KiB idle, {loaded} KiB with them")
            print(f"per stalled download: {(loaded - idle) / n:.0f} KiB")
            for s in socks:
                s.close()
            socks.clear()
            time.sleep(1)
            runs = []
            for _ in range(args.runs):
                if args.cold:
                    evict(root / "50mb.bin")
                runs.append(curl_seconds(port, "/50mb.bin"))
            runs.sort()
            print("50 MB download, seconds:", " ".join(f"{t:.3f}" for t in runs))
            print(f"median {runs[len(runs) // 2]:.3f} s, best {runs[0]:.3f} s")
        finally:
            for s in socks:
                s.close()
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
