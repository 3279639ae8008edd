"""`make test-compose`: docker-compose.yml brought up for real, with three content replicas.

These machines have no Docker engine: ../shared/compose-sandbox.sh runs the stack with podman
behind the Docker API and Debian's docker-compose (it needs root). This script

1. builds the images and starts the stack with `--scale content=3`, waits for the proxy's
   /readyz and for the proxy to see all three content replicas (its metrics say so), and
   checks that the proxy runs the modules its image compiled with mypyc;
2. adds a user with `adduser --password-stdin` (no demo account in compose), logs in on
   127.0.0.1:10080, reads the story (/secret.html) and the cookie page;
3. stops one content container, then makes 200 protected requests at once (before the proxy's
   next DNS answer drops that replica) and 200 more, every one of which must answer 200;
4. brings the stack down (volumes too), also when a step fails.

Exit status 0 when everything passed. Settings: COMPOSE_SANDBOX (path of compose-sandbox.sh).
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SANDBOX = Path(os.environ.get("COMPOSE_SANDBOX") or REPO.parent / "shared" / "compose-sandbox.sh")
HOST = "127.0.0.1"
# Where the proxy's ports 10080 and 10081 are published: the same numbers, unless this
# machine already uses them (then preflight() picks free ones and says so).
PROXY_PORT = 10080
ADMIN_PORT = 10081
REPLICAS = 3
REQUESTS = 200
USERID = "e2e"
PASSWORD = secrets.token_urlsafe(16)
# What the containers get: fresh secrets, and a session that outlives the run.
STACK_ENV = {
    "COMPOSE_PROJECT_NAME": "gatehouse-e2e",
    "SECRET_KEYS": secrets.token_urlsafe(32),
    "INTERNAL_TOKEN": secrets.token_urlsafe(32),
    "SESSION_TTL": "600",
    "PROXY_BIND": HOST,
    "DEMO_PASSWORD": "",
}


class Failed(Exception):
    pass


def step(title: str, body: Callable[[], str]) -> str:
    """Run one step (it raises Failed), print its title, its result line and how long it took."""
    print(f"== {title}", flush=True)
    started = time.monotonic()
    result = body()
    print(f"   {result} ({time.monotonic() - started:.1f} s)", flush=True)
    return result


def sandbox(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
    # The script bounds its own docker-compose runs too (timeout 120-900 s), and `down`
    # in main() stops whatever a timed-out step left running.
    env = {**os.environ, **STACK_ENV}
    command = ["bash", str(SANDBOX), *args]
    try:
        done = subprocess.run(
            command, env=env, input=stdin, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise Failed(f"compose-sandbox.sh {' '.join(args)}: over {timeout:.0f} s") from None
    if check and done.returncode != 0:
        raise Failed(
            f"compose-sandbox.sh {' '.join(args)}: exit {done.returncode}\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def compose(*args: str, stdin: str | None = None) -> str:
    return sandbox("compose", str(REPO), *args, stdin=stdin)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) != 0


def free_ports() -> tuple[int, int]:
    with socket.socket() as a, socket.socket() as b:
        a.bind((HOST, 0))
        b.bind((HOST, 0))
        return a.getsockname()[1], b.getsockname()[1]


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def wait_for(what: str, probe: Callable[[], str | None], seconds: float) -> str:
    """Poll probe (None: not yet) every half second until it answers or time runs out."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = probe()
        except (OSError, http.client.HTTPException) as exc:
            answer, last = None, f"{type(exc).__name__}: {exc}"
        if answer is not None:
            return answer
        time.sleep(0.5)
    raise Failed(f"{what}: not within {seconds:.0f} s (last: {last})")


def healthy_content_replicas() -> set[str]:
    """The content replicas the proxy counts healthy, from its Prometheus metrics."""
    status, body = get(ADMIN_PORT, "/metrics")
    if status != 200:
        return set()
    pattern = r"^gatehouse_upstream_replica_healthy\{([^}]*)\}\s+([0-9.e+-]+)$"
    replicas = set()
    for labels, value in re.findall(pattern, body, re.MULTILINE):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if "content" in fields.get("upstream", "") and float(value) == 1:
            replicas.add(fields.get("replica", labels))
    return replicas


def login() -> str:
    body = urllib.parse.urlencode({"userid": USERID, "passwd": PASSWORD})
    conn = http.client.HTTPConnection(HOST, PROXY_PORT, timeout=10)
    try:
        conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    if response.status != 303 or "=" not in cookie:
        raise Failed(f"POST /login: {response.status}, Set-Cookie {cookie!r}")
    return cookie


def protected_requests(cookie: str, when: str) -> str:
    """REQUESTS GETs over keep-alive connections, each of which must answer 200.

    Distinct query strings, so the proxy's response cache answers none of them.
    """
    failures: list[str] = []
    slowest = 0.0
    conn = http.client.HTTPConnection(HOST, PROXY_PORT, timeout=10)
    paths = ("/secret.html", "/images/coast.jpg", "/static/style.css")
    try:
        for i in range(REQUESTS):
            path = f"{paths[i % len(paths)]}?n={i}"
            started = time.monotonic()
            try:
                conn.request("GET", path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failures.append(f"{path}: {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{path}: {type(exc).__name__}: {exc}")
                conn.close()
            slowest = max(slowest, time.monotonic() - started)
    finally:
        conn.close()
    if failures:
        raise Failed(f"{len(failures)} of {REQUESTS} failed {when}: {failures[:5]}")
    return f"{REQUESTS}/{REQUESTS} answered 200 {when}, the slowest in {slowest:.2f} s"


def content_containers(state: str = "") -> list[str]:
    """Names of the content containers (with state="Up": of the running ones)."""
    lines = compose("ps", "content").splitlines()
    return [
        line.split()[0]
        for line in lines
        if re.match(r"\S+[-_]content[-_]\d+\s", line) and state in line
    ]


def run() -> None:
    # The first setup builds the stand-in base image, and the first up installs the
    # requirements into the images and compiles the proxy's modules: minutes, once per machine.
    step(
        "compose-sandbox.sh setup (once per machine)",
        lambda: sandbox("setup", timeout=900).strip(),
    )
    step(
        f"up --build --scale content={REPLICAS}",
        lambda: (
            sandbox("up", str(REPO), "--scale", f"content={REPLICAS}", timeout=600) and "started"
        ),
    )

    def ready() -> str | None:
        status, body = get(ADMIN_PORT, "/readyz")
        return f"{status} {body.strip()}" if status == 200 else None

    step(f"the proxy's /readyz on {HOST}:{ADMIN_PORT}", lambda: wait_for("/readyz", ready, 180))

    def published() -> str:
        ports = [compose("port", "proxy", str(p)).strip() for p in (10080, 10081)]
        if ports != [f"{HOST}:{PROXY_PORT}", f"{HOST}:{ADMIN_PORT}"]:
            raise Failed(f"the proxy publishes {ports}")
        running = content_containers("Up")
        if len(running) != REPLICAS:
            raise Failed(f"{len(running)} content containers up, expected {REPLICAS}")
        return f"proxy on {' and '.join(ports)}; content: {', '.join(running)}"

    step("published ports and content containers", published)

    def runs_compiled_modules() -> str:
        # The image sets PROXY_COMPILED=1, so a proxy that answers has loaded its build;
        # seen from outside, as a person would check: a module's file and the start-up line.
        code = "import proxy.protocol as m; print(m.__file__)"
        where = compose("exec", "-T", "proxy", "python", "-c", code).strip()
        if not (where.startswith("/app/build/mypyc/") and where.endswith(".so")):
            raise Failed(f"proxy.protocol is {where}, not a module compiled in the image")
        if "modules compiled with mypyc" not in compose("logs", "--no-color", "proxy"):
            raise Failed("the proxy's start-up line does not say 'modules compiled with mypyc'")
        return f"proxy.protocol is {where}; the start-up line says so"

    step("the proxy runs its mypyc-compiled modules", runs_compiled_modules)

    def all_replicas_seen() -> str | None:
        replicas = healthy_content_replicas()
        return ", ".join(sorted(replicas)) if len(replicas) == REPLICAS else None

    step(
        f"the proxy counts {REPLICAS} healthy content replicas (from the DNS name)",
        lambda: wait_for("replicas", all_replicas_seen, 60),
    )
    adduser = ("exec", "-T", "auth", "python", "-m", "auth_service", "adduser", USERID)
    step(
        f"docker compose exec -T auth python -m auth_service adduser {USERID} --password-stdin",
        lambda: compose(*adduser, "--password-stdin", stdin=PASSWORD + "\n").strip() or "ok",
    )
    cookies: list[str] = []

    def log_in() -> str:
        cookies.append(login())
        return f"303 with Set-Cookie {cookies[0].split('=')[0]}=..."

    step(f"POST /login on {HOST}:{PROXY_PORT}", log_in)
    cookie = cookies[0]

    def page(path: str, needle: str) -> Callable[[], str]:
        def check() -> str:
            status, body = get(PROXY_PORT, path, {"Cookie": cookie})
            if status != 200 or needle not in body:
                raise Failed(f"GET {path}: {status}, {needle!r} in the page: {needle in body}")
            return f"200, {len(body)} characters with {needle!r}"

        return check

    step("GET /secret.html (the story)", page("/secret.html", "<img"))
    step("GET /cookie.html", page("/cookie.html", f"Hello {USERID}"))

    def stop_one_then_request() -> str:
        victim = content_containers("Up")[0]
        # What `docker stop` does: SIGTERM, then the container and its address are gone.
        # Until its next DNS lookup drops the replica, the proxy learns that only from failed
        # connections and its health checks: the requests right after are the test.
        stopped = subprocess.run(
            ["podman", "stop", "--time", "10", victim], capture_output=True, timeout=60
        )
        left = content_containers("Up")
        if stopped.returncode != 0 or victim in left or len(left) != REPLICAS - 1:
            raise Failed(f"podman stop {victim}: exit {stopped.returncode}; up: {left}")
        return protected_requests(cookie, f"right after stopping {victim}")

    step(f"stop one content container, then {REQUESTS} protected requests", stop_one_then_request)
    step(
        f"{REQUESTS} more protected requests",
        lambda: protected_requests(cookie, f"with {REPLICAS - 1} replicas"),
    )


def preflight() -> str | None:
    """Why the stack cannot start here, or None (after choosing the host ports)."""
    if os.geteuid() != 0:
        return "needs root: compose-sandbox.sh runs podman rootful"
    if not SANDBOX.is_file():
        return f"{SANDBOX} not found (set COMPOSE_SANDBOX)"
    global PROXY_PORT, ADMIN_PORT  # chosen once, before anything starts
    if not (port_is_free(PROXY_PORT) and port_is_free(ADMIN_PORT)):
        PROXY_PORT, ADMIN_PORT = free_ports()
        print(f"10080 or 10081 is taken here: publishing on {PROXY_PORT} and {ADMIN_PORT}")
    STACK_ENV["PROXY_PUBLISH_PORT"] = str(PROXY_PORT)
    STACK_ENV["PROXY_ADMIN_PUBLISH_PORT"] = str(ADMIN_PORT)
    return None


def main() -> int:
    problem = preflight()
    if problem:
        print(f"FAIL: {problem}", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        run()
    except Failed as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        try:
            print(compose("logs", "--no-color", "--tail=20")[-6000:], file=sys.stderr)
        except Failed as logs_failed:
            print(logs_failed, file=sys.stderr)
        return 1
    finally:
        print("== down (containers, network and volumes)", flush=True)
        sandbox("down", str(REPO), check=False, timeout=180)
    print(f"PASS: make test-compose in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
