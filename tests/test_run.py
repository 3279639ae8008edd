"""run.py (`make run`): settings and ports checked before anything starts, "ready" only once
everything answers, crashed services restarted with backoff, replicas, and the scenarios
against a stack that does not use the default settings."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

import run as run_py
from proxy.config import Address
from tests.support import REPO, free_port

USER, PASSWORD = "demo", "gatehouse"


class RunPy:
    """run.py as a process; its output (and its children's) collected line by line.

    Every process it starts inherits a marker in its environment, so the tests can tell
    whether anything was started, and whether anything is left.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.marker = secrets.token_hex(8)
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, "run.py"],
            cwd=REPO,
            env={**os.environ, "GATEHOUSE_TEST_RUN": self.marker, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first output line containing `text` (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if text in line]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} in run.py's output:\n{self.output}")
                self._changed.wait(left)

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)  # the last lines: the pipe ends once its children are gone too
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.finish()

    def children(self) -> dict[str, int]:
        """{module: pid} of run.py's live children (replicas: `module[port]`)."""
        found = {}
        for pid in _pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            state, ppid = stat.rpartition(")")[2].split()[:2]
            if int(ppid) == self.proc.pid and b"-m" in argv and state != "Z":
                module = argv[argv.index(b"-m") + 1].decode()
                port = _environ(pid).get(f"{module.split('_')[0].upper()}_PORT", "")
                found[module if module not in found else f"{module}[{port}]"] = pid
        return found

    def started_processes(self) -> list[int]:
        """Processes carrying this run's marker (run.py itself excluded)."""
        return [
            pid
            for pid in _pids()
            if pid != self.proc.pid and _environ(pid).get("GATEHOUSE_TEST_RUN") == self.marker
        ]


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def stack_env(tmp: Path, **settings: str) -> dict[str, str]:
    """Free ports for everything, and nothing written to the repository's var/."""
    return {
        "PROXY_PORT": str(free_port()),
        "AUTH_PORT": str(free_port()),
        "CONTENT_PORT": str(free_port()),
        "PROXY_ADMIN_PORT": str(free_port()),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "INTERNAL_TOKEN": "test-internal-token",
        "USERS_FILE": str(tmp / "users.json"),
        "AUTH_DATABASE_URL": f"sqlite:///{tmp / 'auth.db'}",
        "DEMO_USERID": USER,
        "DEMO_PASSWORD": PASSWORD,
        "RUN_RESTART_DELAY": "0.1",
        **settings,
    }


def login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = urllib.parse.urlencode({"userid": USER, "passwd": PASSWORD})
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 303, resp.status
    return resp.getheader("Set-Cookie", "").split(";", 1)[0]


def get(port: int, path: str, cookie: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def test_backoff_doubles_up_to_ten_seconds():
    child = run_py.Child("content_service", "content_service", {}, "CONTENT_PORT")
    delays = []
    for n in range(8):  # one crash every 20 s: never 5 within a minute
        child.started_at = n * 20.0
        delays.append(child.crashed(n * 20.0 + 1, first_delay=0.5))
    assert delays == [0.5, 1, 2, 4, 8, 10, 10, 10]


def test_five_crashes_within_a_minute_give_up():
    child = run_py.Child("auth_service", "auth_service", {}, "AUTH_PORT")
    assert [child.crashed(t, 0.5) for t in (1, 2, 3, 4)] == [0.5, 1, 2, 4]
    assert child.crashed(60.5, 0.5) is None


def test_a_service_that_ran_a_minute_starts_the_backoff_afresh():
    child = run_py.Child("proxy", "proxy", {}, "PROXY_PORT")
    assert [child.crashed(t, 0.5) for t in (1, 2, 3)] == [0.5, 1, 2]
    child.started_at = 10
    assert child.crashed(75, 0.5) == 0.5


def test_the_proxy_admin_and_redirect_ports_are_checked_when_its_settings_have_them(
    tmp_path, monkeypatch
):
    """Issue 11's admin listener (PROXY_ADMIN_HOST/PORT) and the TLS redirect listener: taken
    from the proxy's own settings, so each is checked exactly when the proxy will bind it."""
    env = stack_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        admin_port = taken.getsockname()[1]
        redirect_port = free_port()
        proxy = types.SimpleNamespace(
            listen=Address("127.0.0.1", int(env["PROXY_PORT"])),
            admin=Address("127.0.0.1", admin_port),
            http_redirect_port=redirect_port,
        )
        monkeypatch.setitem(run_py.VALIDATORS, "proxy", lambda env: proxy)
        children = run_py.plan(env, run_py.RunSettings())
        assert run_py.validate(children, env, []) == []
        claims = [claim for child in children for claim in child.claims]
        assert [name for name, _, _ in claims] == [
            "AUTH_PORT",
            "CONTENT_PORT",
            "PROXY_PORT",
            "PROXY_ADMIN_PORT",
            "PROXY_HTTP_REDIRECT_PORT",
        ]
        assert run_py.ports_in_use(claims) == [
            f"PROXY_ADMIN_PORT {admin_port} is already in use; set PROXY_ADMIN_PORT to a free port"
        ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunPy]:
    """A stack started by run.py with settings that are not the defaults."""
    env = stack_env(
        tmp_path_factory.mktemp("run"), SESSION_TTL="5", KEEPALIVE_TIMEOUT="2", KEEPALIVE_MAX="7"
    )
    run = RunPy(env)
    try:
        run.wait_for("Gatehouse is ready")
        yield run
    finally:
        # Ctrl-C stops everything.
        assert run.stop(signal.SIGINT) == 0, run.output
        assert run.started_processes() == []


@pytest.mark.slow
def test_ready_only_once_everything_answers(stack):
    port = int(stack.env["PROXY_PORT"])
    assert login(port).startswith("session=")  # right after the banner: no 502
    assert f"Gatehouse is ready: open http://127.0.0.1:{port}/" in stack.output
    assert "Log in as 'demo' with password 'gatehouse'." in stack.output
    assert sorted(stack.children()) == ["auth_service", "content_service", "proxy"]


@pytest.mark.slow
def test_scenarios_follow_the_stack_settings(stack):
    """`make scenarios` with the settings the stack was started with (issue 14, item 1)."""
    names = ("PROXY_PORT", "SESSION_TTL", "KEEPALIVE_TIMEOUT", "KEEPALIVE_MAX")
    env = {**os.environ, **{name: stack.env[name] for name in names}}
    result = subprocess.run(
        ["make", "-s", "scenarios"], cwd=REPO, env=env, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Keep-Alive: timeout=2, max=6" in result.stdout
    assert "cookie Max-Age=5" in result.stdout
    assert result.stdout.count("PASS:") == 6


@pytest.mark.slow
def test_ports_in_use_are_named_and_the_running_stack_left_alone(stack):
    second = RunPy(stack.env)
    assert second.finish() == 2
    for name in ("PROXY_PORT", "AUTH_PORT", "CONTENT_PORT"):
        line = f"run: {name} {stack.env[name]} is already in use; set {name} to a free port"
        assert line in second.lines, second.output
    assert "Gatehouse" not in second.output
    assert second.started_processes() == []
    assert login(int(stack.env["PROXY_PORT"])).startswith("session=")


@pytest.mark.slow
def test_a_killed_service_is_restarted(stack):
    port = int(stack.env["PROXY_PORT"])
    cookie = login(port)
    before = stack.children()["content_service"]
    os.kill(before, signal.SIGKILL)
    stack.wait_for("run: content_service exited with -9; restarting (1)")
    stack.wait_for("run: content_service answers again")
    assert stack.children()["content_service"] != before
    assert get(port, "/secret.html", cookie) == 200


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KEEPALIVE_MAX", "abc", "setting KEEPALIVE_MAX: must be a whole number (got 'abc')"),
        ("PROXY_PORT", "99999", "setting PROXY_PORT: must be a TCP port, 1 to 65535 (got '99999')"),
        (
            "PROXY_TRACE",
            "maybe",
            "setting PROXY_TRACE: must be 1/0, true/false, yes/no or on/off (got 'maybe')",
        ),
        ("CONTENT_REPLICAS", "0", "setting CONTENT_REPLICAS: must be between 1 and 32 (got '0')"),
        ("AUTH_PORT", "abc", None),  # read by the auth service and the proxy: said once
        ("SESSION_TTL", "soon", None),  # the auth service's own check and words
        ("CONTENT_MEMORY_MAX", "-1", None),  # the content service's
    ],
    ids=["not-a-number", "out-of-range", "bad-flag", "run-setting", "shared", "auth", "content"],
)
def test_bad_settings_start_nothing(tmp_path, name, value, message):
    run = RunPy(stack_env(tmp_path, **{name: value}))
    assert run.finish() == 2
    assert run.started_processes() == []
    assert len(run.lines) == 1, run.output  # one line, no traceback, no banner
    if message is not None:
        assert run.lines == [f"run: {message}"]
    else:
        assert name in run.lines[0] and value in run.lines[0], run.output


@pytest.mark.slow
def test_every_problem_is_reported_at_once(tmp_path):
    run = RunPy(stack_env(tmp_path, KEEPALIVE_MAX="many", AUTH_REPLICAS="x"))
    assert run.finish() == 2
    assert run.lines == [
        "run: setting KEEPALIVE_MAX: must be a whole number (got 'many')",
        "run: setting AUTH_REPLICAS: must be a whole number (got 'x')",
    ]


@pytest.mark.slow
def test_two_services_on_one_port(tmp_path):
    env = stack_env(tmp_path)
    env["CONTENT_PORT"] = env["AUTH_PORT"]
    run = RunPy(env)
    assert run.finish() == 2
    assert run.lines == [
        f"run: setting CONTENT_PORT: the same port as AUTH_PORT (got '{env['AUTH_PORT']}')"
    ]
    assert run.started_processes() == []


@pytest.mark.slow
def test_gives_up_after_five_crashes_within_a_minute(tmp_path):
    run = RunPy(stack_env(tmp_path, RUN_RESTART_DELAY="0.05"))
    try:
        killed: set[int] = set()
        for crash in range(1, 6):
            pid = _wait_for_new(run, "content_service", killed)
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            if crash < 5:
                run.wait_for(f"run: content_service exited with -9; restarting ({crash})")
        assert run.finish() == 1
    finally:
        run.stop(signal.SIGKILL)
    assert "content_service exited with -9; it has crashed 5 times within 60 s" in run.output
    assert "gives up and stops everything" in run.output
    assert run.started_processes() == []


def _wait_for_new(run: RunPy, module: str, old: set[int], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = run.children().get(module)
        if pid is not None and pid not in old:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no new {module} process:\n{run.output}")


@pytest.mark.slow
def test_replicas(tmp_path):
    run = RunPy(stack_env(tmp_path, CONTENT_REPLICAS="2", AUTH_REPLICAS="2"))
    try:
        run.wait_for("Gatehouse is ready")
        children = run.children()
        assert len(children) == 5, children
        proxy_env = _environ(children["proxy"])
        content_ports = sorted(
            _environ(pid)["CONTENT_PORT"]
            for name, pid in children.items()
            if name.startswith("content_service")
        )
        upstreams = sorted(proxy_env["CONTENT_UPSTREAMS"].split(","))
        assert upstreams == [f"127.0.0.1:{port}" for port in content_ports]
        assert len(proxy_env["AUTH_UPSTREAMS"].split(",")) == 2
        assert run.env["CONTENT_PORT"] in content_ports  # replica 1 on the usual port
        for port in content_ports:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
                pass
        port = int(run.env["PROXY_PORT"])
        try:
            assert get(port, "/secret.html", login(port)) == 200
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- run.py output:\n{run.output}") from None
    finally:
        assert run.stop(signal.SIGTERM) == 0, run.output
    assert run.started_processes() == []
