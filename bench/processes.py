"""Start and stop what the bench measures: our services, nginx, uvicorn; CPU pinning; memory.

Every process runs in its own process group (so stopping it stops its children too, like
nginx's worker) and, when the machine has two cores, pinned with `taskset` to the core of
the systems under test, away from the load generator's core.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
NGINX_TEMPLATE = BENCH / "nginx.conf.template"
NGINX_STATIC_TEMPLATE = BENCH / "nginx_static.conf.template"
NGINX_REPLICAS_TEMPLATE = BENCH / "nginx_replicas.conf.template"
STATICFILES_APP = "bench.staticfiles_app:app"

LOOPBACK = "127.0.0.1"
TOOLS = {"nginx": "nginx", "wrk": "wrk", "taskset": "util-linux"}  # command -> Debian package


class BenchError(RuntimeError):
    """Something the bench needs failed (a process did not start, a check did not pass)."""


def missing_tools() -> dict[str, str]:
    """The commands the bench needs that are not installed, with their Debian packages."""
    return {cmd: pkg for cmd, pkg in TOOLS.items() if find_tool(cmd) is None}


def find_tool(cmd: str) -> str | None:
    # nginx lives in /usr/sbin, which is not on every user's PATH.
    return shutil.which(cmd) or shutil.which(cmd, path="/usr/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listening on {LOOPBACK}:{port} after {timeout:.0f}s")


# --- CPU pinning and file descriptors ---------------------------------------------------


@dataclass(frozen=True)
class Cores:
    """The load generator's core and the systems' core; both None when not pinning."""

    load: int | None
    sut: int | None

    @property
    def pinned(self) -> bool:
        return self.load is not None

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (fewer than two usable cores)"
        return f"load generator on core {self.load}, systems under test on core {self.sut}"


def pick_cores() -> Cores:
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return Cores(None, None)
    return Cores(usable[0], usable[1])


def pinned(cpu: int | None, argv: list[str]) -> list[str]:
    """`argv` run on core `cpu` (taskset execs it, so the pid stays the program's own)."""
    if cpu is None:
        return argv
    return [find_tool("taskset") or "taskset", "-c", str(cpu), *argv]


def raise_nofile() -> tuple[int, int]:
    """Raise our soft open-files limit to the hard one (children inherit it); return both."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


# --- processes -------------------------------------------------------------------------


class Proc:
    """One process (group) with its output in a log file; stopped by its own pgid."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cpu: int | None = None,
        port: int | None = None,
    ) -> None:
        self.name, self.log, self.port = name, log, port
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            pinned(cpu, argv),
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if port is not None:
            try:
                wait_for_port(port, self.proc)
            except BenchError as exc:
                self.stop()
                raise BenchError(f"{name}: {exc}\n{self.tail()}") from None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        """This process and its descendants (nginx's master and worker)."""
        return [self.pid, *descendants(self.pid)]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self._log_file.close()

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running(proc_factory: Callable[[], Proc]) -> Iterator[Proc]:
    proc = proc_factory()
    try:
        yield proc
    finally:
        proc.stop()


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


@dataclass(frozen=True)
class Services:
    """Settings shared by every process the bench starts."""

    tmp: Path
    cores: Cores
    auth_port: int
    secret: str
    userid: str = "bench"
    password: str = "bench-password-not-secret"

    def python(self, module_args: list[str]) -> list[str]:
        return [sys.executable, *module_args]

    def auth(self) -> Proc:
        env = {
            "SECRET_KEY": self.secret,
            "SESSION_TTL": "86400",
            "AUTH_DATABASE_URL": f"sqlite:///{self.tmp / 'auth.db'}",
            "DEMO_USERID": self.userid,
            "DEMO_PASSWORD": self.password,
            "AUTH_BIND": LOOPBACK,
            "AUTH_PORT": str(self.auth_port),
        }
        return Proc(
            "auth_service",
            self.python(["-m", "auth_service"]),
            log=self.tmp / "auth.log",
            env=env,
            cpu=self.cores.sut,
            port=self.auth_port,
        )

    def content(self, root: Path, port: int) -> Proc:
        env = {"CONTENT_ROOT": str(root), "CONTENT_BIND": LOOPBACK, "CONTENT_PORT": str(port)}
        return Proc(
            "content_service",
            self.python(["-m", "content_service"]),
            log=self.tmp / "content.log",
            env=env,
            cpu=self.cores.sut,
            port=port,
        )

    def proxy(
        self,
        name: str,
        port: int,
        content_port: int,
        extra: Mapping[str, str] | None = None,
        *,
        pinned: bool = True,
    ) -> Proc:
        return Proc(
            name,
            self.python(["-m", "proxy"]),
            log=self.tmp / f"{name}.log",
            env=self.proxy_env(port, content_port, extra),
            cpu=self.cores.sut if pinned else None,
            port=port,
        )

    def proxy_env(
        self, port: int, content_port: int, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Our proxy's settings in every bench: loopback upstreams, no access log."""
        return {
            "PROXY_HOST": LOOPBACK,
            "PROXY_PORT": str(port),
            "AUTH_HOST": LOOPBACK,
            "AUTH_PORT": str(self.auth_port),
            "CONTENT_HOST": LOOPBACK,
            "CONTENT_PORT": str(content_port),
            "PROXY_ACCESS_LOG": "0",  # nginx runs with access_log off
            "PROXY_ADMIN_PORT": str(free_port()),
            **(extra or {}),
        }

    def staticfiles(self, root: Path, port: int) -> Proc:
        """Starlette's plain StaticFiles under uvicorn, with the content service's flags."""
        argv = self.python(
            [
                "-m",
                "uvicorn",
                STATICFILES_APP,
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
                "--timeout-keep-alive",
                "5",
                "--no-proxy-headers",
                "--no-server-header",
            ]
        )
        return Proc(
            "staticfiles",
            argv,
            log=self.tmp / "staticfiles.log",
            env={"STATICFILES_ROOT": str(root)},
            cpu=self.cores.sut,
            port=port,
        )

    def nginx(self, name: str, template: Path, values: Mapping[str, object], port: int) -> Proc:
        """nginx in the foreground with its own prefix, config and error log under tmp."""
        prefix = self.tmp / name
        prefix.mkdir(mode=0o755, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(render(template.read_text(), {"prefix": prefix, **values}))
        error_log = prefix / "error.log"
        argv = [
            find_tool("nginx") or "nginx",
            "-p",
            f"{prefix}/",
            "-c",
            str(conf),
            "-e",
            str(error_log),
            "-g",
            f"daemon off; pid {prefix}/nginx.pid;",
        ]
        proc = Proc(name, argv, log=prefix / "stdout.log", cpu=self.cores.sut, port=port)
        proc.log = error_log  # what `tail()` shows when something goes wrong
        return proc


_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill `{{name}}` placeholders (nginx's own `$variables` are left alone)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise BenchError(f"nginx template: no value for {{{{{name}}}}}")
        return str(values[name])

    return _PLACEHOLDER.sub(fill, template)


# --- memory ----------------------------------------------------------------------------


def status_kb(pid: int) -> dict[str, int]:
    """The Vm* lines of /proc/PID/status, in kB (empty if the process is gone)."""
    values: dict[str, int] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        if line.startswith("Vm"):
            name, _, rest = line.partition(":")
            values[name] = int(rest.split()[0])
    return values


def rss_mb(pids: list[int]) -> float:
    return sum(status_kb(pid).get("VmRSS", 0) for pid in pids) / 1024


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so it shows this run's peak only."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class MemoryWatch:
    """RSS of a set of processes: before a run, its peak during the run, and after.

    The peak is the larger of the summed VmHWM (reset when the run starts, where the
    kernel allows) and the largest summed VmRSS sampled every 20 ms.
    """

    pids: list[int]
    before_mb: float = 0.0
    peak_mb: float = 0.0
    after_mb: float = 0.0
    hwm_reset: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.before_mb = rss_mb(self.pids)
        self.hwm_reset = all([reset_peak(pid) for pid in self.pids])
        self.peak_mb = self.before_mb
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, rss_mb(self.pids))

    def stop(self) -> dict[str, float | bool]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.after_mb = rss_mb(self.pids)
        if self.hwm_reset:
            hwm = sum(status_kb(pid).get("VmHWM", 0) for pid in self.pids) / 1024
            self.peak_mb = max(self.peak_mb, hwm)
        self.peak_mb = max(self.peak_mb, self.after_mb)
        return {
            "rss_before_mb": round(self.before_mb, 1),
            "rss_peak_mb": round(self.peak_mb, 1),
            "rss_after_mb": round(self.after_mb, 1),
            "rss_growth_mb": round(self.peak_mb - self.before_mb, 1),
            "processes": len(self.pids),
        }


# --- CPU use -----------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (from /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def core_times(cpu: int) -> dict[str, int]:
    """Clock ticks of one core so far, from /proc/stat: spent in processes (user, nice,
    system), in interrupts (irq, softirq: loopback TCP mostly), stolen by the hypervisor,
    and in total.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            user, nice, system, idle, iowait, irq, softirq, steal = (
                int(value) for value in line.split()[1:9]
            )
            return {
                "processes": user + nice + system,
                "interrupts": irq + softirq,
                "steal": steal,
                "total": user + nice + system + idle + iowait + irq + softirq + steal,
            }
    return {"processes": 0, "interrupts": 0, "steal": 0, "total": 0}
