"""The master of PROXY_WORKERS worker processes: start them, replace one that dies, stop
them all gracefully on SIGTERM/SIGINT.

The workers share listening sockets that the master binds once and they inherit (not
SO_REUSEPORT). Why:
- one bind, in one place: a port in use is one clear error at start, not N worker crashes;
- with SO_REUSEPORT each worker has its own accept queue, and the kernel resets the
  connections waiting in the queue of a worker that dies; with one shared queue the
  surviving workers simply accept them, which is what "a killed worker costs nothing" needs;
- SO_REUSEPORT also lets any process of the same user bind the port alongside us.
The price is balance: whichever worker wakes first accepts, while SO_REUSEPORT hashes
connections evenly. Under load every worker is busy and accepting, which evens it out; the
bench's workers scenario shows what it gives on this machine.

Metrics: the master makes a temporary PROMETHEUS_MULTIPROC_DIR for the workers' value
files, tells prometheus_client when a worker died (its live gauges go), and removes it at
the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from prometheus_client.multiprocess import mark_process_dead

from proxy import compiled
from proxy.config import Settings
from proxy.server import ListenError, listeners

log = logging.getLogger("gatehouse.proxy")

TICK = 0.1  # how often the master looks at its workers
CRASH_WINDOW = 60.0  # crashes counted over this many seconds...
MAX_CRASHES = 5  # ...and after more, the master gives up (systemd's StartLimitBurst)
STOP_MARGIN = 5.0  # after the grace period, how long workers get before SIGKILL


@dataclass
class Slot:
    """One worker position: its current process, and when its predecessors died."""

    number: int
    proc: subprocess.Popen[bytes] | None = None
    crashes: list[float] = field(default_factory=list)
    start_at: float = 0.0  # when to (re)start it, after a backoff


def backoff(crashes: int) -> float:
    """Seconds before restarting a worker that died, after `crashes` recent deaths: the
    first comes back at once, then 0.5, 1, 2, 4 s."""
    return 0.0 if crashes <= 1 else min(0.5 * 2 ** (crashes - 2), 8.0)


def run(settings: Settings) -> int:
    try:
        socks = listeners(settings)
    except ListenError as exc:
        print(f"proxy: {exc}", file=sys.stderr)
        return 1
    metrics_dir = tempfile.mkdtemp(prefix="gatehouse-metrics-")
    stopping: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    fds = tuple(sock.fileno() for sock in socks.all())
    slots = [Slot(n) for n in range(1, settings.workers + 1)]
    log.warning(
        "gatehouse proxy listening on %s://%s (admin on http://%s), %d workers, %s",
        "https" if settings.tls else "http",
        settings.listen,
        settings.admin,
        settings.workers,
        compiled.describe(),
    )
    code = 0
    try:
        while not stopping:
            now = time.monotonic()
            for slot in slots:
                dead = slot.proc is not None and slot.proc.poll() is not None
                if dead and not _died(slot, metrics_dir, now):
                    code = 1
                    stopping.append(0)
                    break
                if slot.proc is None and now >= slot.start_at:
                    slot.proc = _spawn(slot.number, fds, env)
            time.sleep(TICK)
    finally:
        _stop_all(slots, settings.shutdown_grace + STOP_MARGIN)
        socks.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    log.warning("gatehouse proxy stopped")
    return code


def _spawn(number: int, fds: tuple[int, ...], env: dict[str, str]) -> subprocess.Popen[bytes]:
    listed = ",".join(map(str, fds))
    argv = [sys.executable, "-m", "proxy", "--worker", str(number), "--fds", listed]
    return subprocess.Popen(argv, env=env, pass_fds=fds)


def _died(slot: Slot, metrics_dir: str, now: float) -> bool:
    """Account for a dead worker; False when it keeps dying and the master gives up."""
    assert slot.proc is not None
    pid, code = slot.proc.pid, slot.proc.returncode
    mark_process_dead(pid, metrics_dir)
    slot.proc = None
    slot.crashes = [t for t in slot.crashes if now - t < CRASH_WINDOW] + [now]
    if len(slot.crashes) > MAX_CRASHES:
        log.error(
            "worker %d died %d times in %.0f s (last: pid %d, exit %s): giving up",
            slot.number,
            len(slot.crashes),
            CRASH_WINDOW,
            pid,
            code,
        )
        return False
    delay = backoff(len(slot.crashes))
    slot.start_at = now + delay
    log.warning(
        "worker %d (pid %d) died with exit %s: restarting it in %.1f s",
        slot.number,
        pid,
        code,
        delay,
    )
    return True


def _stop_all(slots: list[Slot], timeout: float) -> None:
    """SIGTERM to every worker (each finishes its requests within the grace period), then
    SIGKILL to any still running after `timeout`."""
    procs = [s.proc for s in slots if s.proc is not None and s.proc.poll() is None]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            log.error("worker pid %d did not stop in time: killing it", proc.pid)
            proc.kill()
            proc.wait()
