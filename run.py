"""`make run`: start the auth service, the content service and the proxy as local processes.

Before starting anything, every service's settings are checked with that service's own
`Settings.from_env`, and every port the stack will listen on is tried, so a mistake is one
clear line (`setting NAME: what is wrong (got 'value')`, or which port variable to change), no
banner is printed and a stack already running is left alone. The URL and the account are
printed, with the word "ready", only once every process answers.

One supervisor in the foreground. A service that exits is restarted after 0.5 s, 1 s, 2 s ...
(at most 10 s); one that crashes 5 times within a minute is given up on and everything is
stopped (systemd's StartLimitBurst, supervisord's startretries: restarting forever hides the
fault, stopping at the first crash turns it into an outage). Ctrl-C or SIGTERM stops all of
them; each runs in its own process group, so nothing is orphaned.

Exit status: 0 stopped by a signal, 1 given up on a crashing service, 2 bad settings or a
port in use.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from auth_service.config import Settings as AuthSettings
from content_service.config import Settings as ContentSettings
from proxy.config import Settings as ProxySettings

ROOT = Path(__file__).resolve().parent
VAR = ROOT / "var"

RESTART_DELAY_MAX = 10.0
CRASH_LIMIT = 5  # crashes of one service within CRASH_WINDOW seconds: give up
CRASH_WINDOW = 60.0
POLL_INTERVAL = 0.1

# Each service checks its own settings; run.py asks them all before starting anything.
VALIDATORS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "proxy": ProxySettings.from_env,
    "auth_service": AuthSettings.from_env,
    "content_service": ContentSettings.from_env,
}


N = TypeVar("N", int, float)


class SettingError(ValueError):
    """A run.py setting is wrong; the message is in the shared style."""


@dataclass(frozen=True)
class RunSettings:
    """The settings run.py reads itself (the services read the rest)."""

    auth_replicas: int = 1
    content_replicas: int = 1
    restart_delay: float = 0.5  # before the first restart; doubles up to RESTART_DELAY_MAX

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunSettings:
        d = cls()
        return cls(
            auth_replicas=_number(env, "AUTH_REPLICAS", int, d.auth_replicas, 1, 32),
            content_replicas=_number(env, "CONTENT_REPLICAS", int, d.content_replicas, 1, 32),
            restart_delay=_number(env, "RUN_RESTART_DELAY", float, d.restart_delay, 0.01, 60),
        )


def _number(
    env: Mapping[str, str], name: str, kind: type[N], default: N, low: float, high: float
) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise SettingError(f"setting {name}: must be {what} (got {raw!r})") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise SettingError(f"setting {name}: must be between {low:g} and {high:g} (got {raw!r})")
    return value


def generated_secret(env: Mapping[str, str], name: str, path: Path) -> str:
    """`name` from the environment, else one generated once and kept in var/ (git-ignored)."""
    if env.get(name, "").strip():
        return env[name]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Child:
    """One supervised service process."""

    name: str  # as in the log: "content_service", or "content_service[2]" for a replica
    module: str
    env: dict[str, str]
    port_variable: str | None  # the setting naming its port; None for an extra replica
    host: str = "127.0.0.1"  # where it answers (filled in from its validated settings)
    port: int = 0
    # (variable, host, port) for each listener that must be free before starting
    claims: list[tuple[str, str, int]] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0  # consecutive restarts; back to 0 after a minute without a crash
    crashes: list[float] = field(default_factory=list)
    answered: bool = False

    def crashed(self, now: float, first_delay: float) -> float | None:
        """Count a crash at `now`: the delay before the restart, or None to give up."""
        if now - self.started_at >= CRASH_WINDOW:
            self.restarts = 0  # it ran for a good while: start the backoff afresh
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW] + [now]
        if len(self.crashes) >= CRASH_LIMIT:
            return None
        self.restarts += 1
        return min(first_delay * 2 ** (self.restarts - 1), RESTART_DELAY_MAX)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=ROOT, env=self.env, start_new_session=True
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.answered = False


def plan(env: dict[str, str], run: RunSettings) -> list[Child]:
    """The processes to start, each with its environment; the proxy last.

    With N replicas of a service, the first listens on its usual port and the others on free
    ones (the proxy learns them all from `point_proxy_at_replicas`). Several auth processes
    share one store (AUTH_DATABASE_URL, SQLite by default).
    """
    children: list[Child] = []
    for module, prefix, replicas in (
        ("auth_service", "AUTH", run.auth_replicas),
        ("content_service", "CONTENT", run.content_replicas),
    ):
        port_variable = f"{prefix}_PORT"
        children.append(Child(module, module, dict(env), port_variable))
        for n in range(2, replicas + 1):
            extra = {**env, port_variable: str(free_port())}
            children.append(Child(f"{module}[{n}]", module, extra, None))
    children.append(Child("proxy", "proxy", dict(env), "PROXY_PORT"))
    return children


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def validate(children: list[Child], env: Mapping[str, str], found: list[str]) -> list[str]:
    """Every setting problem, one line per variable (`found`: run.py's own). Each
    child's listening address is taken from its own validated settings; the proxy, last, is
    checked with the replicas' addresses in its environment."""
    problems: dict[str, str] = {}
    for child in children:
        if child.module == "proxy":
            point_proxy_at_replicas(children, env)
        try:
            settings = VALIDATORS[child.module](child.env)
        except ValueError as exc:
            message = str(exc)
            problems.setdefault(_variable(message), message)
            continue
        if child.module == "proxy":
            child.host, child.port = settings.listen.host, settings.listen.port  # type: ignore[attr-defined]
            child.claims += proxy_listeners(settings)
        else:
            child.host, child.port = settings.bind, settings.port  # type: ignore[attr-defined]
        if child.port_variable is not None:
            child.claims.insert(0, (child.port_variable, child.host, child.port))
    for message in found:
        problems.setdefault(_variable(message), message)
    return list(problems.values())


def proxy_listeners(settings: object) -> list[tuple[str, str, int]]:
    """The proxy's listeners besides its public port, when its settings have them: the admin
    listener (PROXY_ADMIN_HOST/PORT) and the plain-HTTP redirect beside TLS."""
    claims = []
    if (admin := getattr(settings, "admin", None)) is not None:
        claims.append(("PROXY_ADMIN_PORT", admin.host, admin.port))
    if redirect := getattr(settings, "http_redirect_port", None):
        host = settings.listen.host  # type: ignore[attr-defined]
        claims.append(("PROXY_HTTP_REDIRECT_PORT", host, redirect))
    return claims


def _variable(message: str) -> str:
    """The variable a message is about: the first NAME in it (`setting NAME: ...`), so that
    a variable two services read is reported once."""
    match = re.search(r"\b[A-Z][A-Z0-9_]{2,}\b", message)
    return match.group() if match else message


def point_proxy_at_replicas(children: list[Child], env: Mapping[str, str]) -> None:
    """CONTENT_UPSTREAMS / AUTH_UPSTREAMS for the proxy when a service has several replicas
    (with one, the proxy keeps using *_HOST and *_PORT as before)."""
    proxy = children[-1]
    for module, prefix in (("auth_service", "AUTH"), ("content_service", "CONTENT")):
        replicas = [c for c in children if c.module == module]
        if len(replicas) > 1:
            host = env.get(f"{prefix}_HOST", "").strip() or "127.0.0.1"
            proxy.env[f"{prefix}_UPSTREAMS"] = ",".join(f"{host}:{c.port}" for c in replicas)


def ports_in_use(claims: list[tuple[str, str, int]]) -> list[str]:
    """Try to bind every (variable, host, port) the stack will listen on; say which are taken.

    SO_REUSEADDR as asyncio's servers set it, so a port in TIME_WAIT is not reported; never
    SO_REUSEPORT, which would let this test bind beside a running proxy's workers.
    """
    problems: list[str] = []
    owners: dict[int, str] = {}
    held: list[socket.socket] = []
    try:
        for name, host, port in claims:
            if port in owners:
                problems.append(f"setting {name}: the same port as {owners[port]} (got '{port}')")
                continue
            owners[port] = name
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            held.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    problems.append(f"{name} {port} is already in use; set {name} to a free port")
                else:
                    problems.append(f"{name} {port}: cannot listen on {host}: {exc.strerror}")
    finally:
        for sock in held:
            sock.close()
    return problems


def answers(child: Child) -> bool:
    """True once the child serves: a service answers `GET /healthz` (any HTTP status will do);
    the proxy answers `GET /readyz` on its admin listener with 200, which it does once every
    upstream has a replica that passed its health check (before that, a login would be 502)."""
    request, host, port = b"GET /healthz", child.host, child.port
    if child.module == "proxy":
        request = b"GET /readyz"
        for name, admin_host, admin_port in child.claims:
            if name == "PROXY_ADMIN_PORT":
                host, port = admin_host, admin_port
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(request + b" HTTP/1.1\r\nHost: run\r\nConnection: close\r\n\r\n")
            status = sock.recv(16)
    except OSError:
        return False
    if child.module == "proxy":
        return status.startswith(b"HTTP/1.1 200")
    return status.startswith(b"HTTP/1.")


class Supervisor:
    """Starts the children, announces "ready" once all answer, restarts the ones that exit."""

    def __init__(self, children: list[Child], run: RunSettings, banner: str) -> None:
        self.children = children
        self.run = run
        self.banner = banner
        self.ready = False
        self.stop_requested = False

    def request_stop(self, *_: object) -> None:
        self.stop_requested = True

    def loop(self) -> int:
        for child in self.children:
            child.start()
        while not self.stop_requested:
            now = time.monotonic()
            for child in self.children:
                assert child.proc is not None
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.start()
                elif child.proc.poll() is not None:
                    if not self._schedule_restart(child, now):
                        return 1
                elif not child.answered and answers(child):
                    child.answered = True
                    if self.ready:
                        say(f"{child.name} answers again")
            if not self.ready and all(child.answered for child in self.children):
                self.ready = True
                print(self.banner, flush=True)
            time.sleep(POLL_INTERVAL)
        return 0

    def _schedule_restart(self, child: Child, now: float) -> bool:
        assert child.proc is not None
        code = child.proc.returncode
        delay = child.crashed(now, self.run.restart_delay)
        if delay is None:
            say(
                f"{child.name} exited with {code}; it has crashed {CRASH_LIMIT} times within "
                f"{CRASH_WINDOW:g} s, so run.py gives up and stops everything"
            )
            return False
        say(f"{child.name} exited with {code}; restarting ({child.restarts}) in {delay:g} s")
        child.restart_at = now + delay
        return True

    def stop_all(self) -> None:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 12
        for proc in running:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def say(message: str) -> None:
    print(f"run: {message}", file=sys.stderr, flush=True)


def banner(env: Mapping[str, str], proxy: Child) -> str:
    host = "127.0.0.1" if proxy.host in ("", "0.0.0.0", "::") else proxy.host
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if env.get("PROXY_TLS_CERT", "").strip() else "http"
    user, password = env.get("DEMO_USERID", ""), env.get("DEMO_PASSWORD", "")
    account = (
        f"Log in as {user!r} with password {password!r}."
        if user and password
        else "No demo account (DEMO_USERID or DEMO_PASSWORD is empty): `make adduser USERID=...`."
    )
    url = f"{scheme}://{host}:{proxy.port}/"
    return f"\nGatehouse is ready: open {url}\n{account}\nCtrl-C stops everything.\n"


def main() -> int:
    env = dict(os.environ)
    if not env.get("SECRET_KEYS", "").strip():
        env["SECRET_KEY"] = generated_secret(env, "SECRET_KEY", VAR / "secret_key")
    env["INTERNAL_TOKEN"] = generated_secret(env, "INTERNAL_TOKEN", VAR / "internal_token")
    env.setdefault("DEMO_USERID", "demo")
    env.setdefault("DEMO_PASSWORD", "gatehouse")
    env.setdefault("PYTHONUNBUFFERED", "1")

    try:
        run, found = RunSettings.from_env(env), []
    except SettingError as exc:
        run, found = RunSettings(), [str(exc)]  # reported with every other problem
    children = plan(env, run)
    problems = validate(children, env, found)
    if not problems:
        problems = ports_in_use([claim for child in children for claim in child.claims])
    if problems:
        for problem in problems:
            say(problem)
        return 2

    supervisor = Supervisor(children, run, banner(env, children[-1]))
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    try:
        return supervisor.loop()
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
