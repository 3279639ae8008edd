"""Run wrk (pinned to the load generator's core) and parse what bench/wrk/report.lua prints."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass

from bench.processes import BENCH, BenchError, find_tool, pinned

SCRIPT = BENCH / "wrk" / "report.lua"
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]  # connect/read/write/timeout (socket) and status (>= 400)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mb_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "rps": round(self.rps, 1),
            "mb_s": round(self.mb_s, 1),
            "error_count": self.error_count,
        }


def run(
    url: str,
    *,
    seconds: int,
    connections: int,
    cpu: int | None,
    cookie: str | None = None,
    timeout_s: int = 10,
) -> WrkResult:
    """One wrk run: one thread (one core), keep-alive, `connections` connections."""
    wrk = find_tool("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (Debian package: wrk)")
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(SCRIPT),
        url,
    ]
    env = {**os.environ, "BENCH_COOKIE": cookie or ""}
    try:
        done = subprocess.run(
            pinned(cpu, argv),
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + timeout_s + 30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk against {url} did not finish in time") from None
    return parse(done.stdout, done.stderr, done.returncode)


def parse(stdout: str, stderr: str = "", returncode: int = 0) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise BenchError(f"wrk exited with {returncode} and no summary:\n{stdout}\n{stderr}")
    latency = data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        bytes=int(data["bytes"]),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        max_ms=latency["max"] / 1000,
        errors={name: int(count) for name, count in data["errors"].items()},
    )
