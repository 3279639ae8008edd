"""`make run`: start the auth service, the content service and the proxy as local processes.

One supervisor in the foreground: Ctrl-C or SIGTERM stops all three (each runs in its own
process group, so nothing is orphaned), and if one of them dies the others are stopped too.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SECRET_FILE = ROOT / "var" / "secret_key"
SERVICES = ("auth_service", "content_service", "proxy")


def secret_key(env: dict[str, str]) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/ (git-ignored)."""
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    if not SECRET_FILE.exists():
        SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
        SECRET_FILE.write_text(secrets.token_urlsafe(32) + "\n")
        SECRET_FILE.chmod(0o600)
    return SECRET_FILE.read_text().strip()


def wait_any(procs: list[subprocess.Popen[bytes]], stopping: list[bool]) -> int:
    while not stopping:
        for proc in procs:
            if proc.poll() is not None:
                print(f"run: {proc.args[-1]} exited with {proc.returncode}", file=sys.stderr)
                return proc.returncode or 1
        time.sleep(0.2)
    return 0


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 12
    for proc in procs:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    env = dict(os.environ)
    env["SECRET_KEY"] = secret_key(env)
    env.setdefault("DEMO_USERID", "demo")
    env.setdefault("DEMO_PASSWORD", "gatehouse")
    env.setdefault("PYTHONUNBUFFERED", "1")
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    procs = [
        subprocess.Popen([sys.executable, "-m", name], cwd=ROOT, env=env, start_new_session=True)
        for name in SERVICES
    ]
    host = env.get("PROXY_HOST", "127.0.0.1")
    port = env.get("PROXY_PORT", "10080")
    print(
        f"\nGatehouse is starting: open http://{host}:{port}/\n"
        f"Log in as {env['DEMO_USERID']!r} with password {env['DEMO_PASSWORD']!r}.\n"
        "Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        status = wait_any(procs, stopping)
    finally:
        stop_all(procs)
    return status


if __name__ == "__main__":
    sys.exit(main())
