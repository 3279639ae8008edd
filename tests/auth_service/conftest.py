"""Stores for the auth tests: a real SQLite file, and a real PostgreSQL server.

The PostgreSQL server is Debian's (`make system-deps` installs the `postgresql` package),
started once per test session by `initdb` + `pg_ctl` in a temp dir on a free port, as the
`postgres` user when we are root (PostgreSQL refuses to run as root), and stopped at the
end. Each test gets a fresh database of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from auth_service.store import Store
from tests.support import free_port


def _pg_bin() -> Path:
    """Debian's server binaries (15 on bookworm); the newest if several are installed."""
    if "GATEHOUSE_PG_BIN" in os.environ:
        return Path(os.environ["GATEHOUSE_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()],
        reverse=True,
    )
    return found[0] if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _run(argv: list[str]) -> None:
    done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for this test session; yields the URL of its `postgres` db."""
    if not (PG_BIN / "pg_ctl").exists():
        raise RuntimeError(
            f"no PostgreSQL in {PG_BIN}: run `make system-deps` (package postgresql)"
        )
    base = Path(tempfile.mkdtemp(prefix="gatehouse-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    base.chmod(0o700)
    data, port = base / "data", free_port()
    _run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 "
        # A throwaway server: durability only costs time here.
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    log = base / "server.log"
    _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"])
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs twice: on a real SQLite file and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'auth.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()
