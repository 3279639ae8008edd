"""The Makefile: `make run` installs only what running needs; `make adduser` can be scripted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO


def make(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        input=stdin,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_run_installs_only_the_runtime_packages(tmp_path):
    # A dry run against a virtualenv that does not exist yet: what would be installed.
    commands = make("-n", "run", f"VENV={tmp_path / 'venv'}").stdout
    assert "-r requirements.txt" in commands
    assert "requirements-dev.txt" not in commands and "bench/requirements.txt" not in commands


def test_make_test_installs_the_test_and_bench_packages_too(tmp_path):
    commands = make("-n", "test", f"VENV={tmp_path / 'venv'}").stdout
    assert "-r requirements.txt" in commands
    assert "-r requirements-dev.txt" in commands and "-r bench/requirements.txt" in commands


def _makes_venvs(python: str) -> bool:
    return subprocess.run([python, "-c", "import ensurepip"], capture_output=True).returncode == 0


@pytest.mark.skipif(
    not (Path("/usr/bin/python3.11").exists() and _makes_venvs("/usr/bin/python3.11")),
    reason="no distribution python3.11 with ensurepip here",
)
def test_the_venv_comes_from_the_distribution_python(tmp_path):
    # Debian's is built with PGO and LTO (README, Performance): scenario 4 ran 16-26 % faster.
    venv = tmp_path / "venv"
    commands = make("-n", "run", f"VENV={venv}").stdout
    assert f"/usr/bin/python3.11 -m venv {venv}" in commands


def test_without_a_python_that_makes_venvs_make_says_what_to_do(tmp_path):
    result = make(f"VENV={tmp_path / 'venv'}", "PYTHON=", f"{tmp_path / 'venv'}/.installed-run")
    assert result.returncode != 0
    assert "no Python 3.11 that can make a virtualenv" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_make_test_and_lint_run_mypy_after_ruff(tmp_path):
    # Issue 13: mypy (strict on proxy/, configured in pyproject.toml) gates like ruff does.
    for target in ("test", "lint"):
        lines = make("-n", target, f"VENV={tmp_path / 'venv'}").stdout.splitlines()
        tools = [line.split()[0].rsplit("/", 1)[-1] for line in lines if "/bin/" in line]
        ran = [tool for tool in tools if tool in ("ruff", "mypy")]
        assert ran == ["ruff", "ruff", "mypy"], (target, lines)


def test_adduser_reads_the_password_from_stdin(tmp_path):
    store = {
        "USERS_FILE": str(tmp_path / "users.json"),
        "AUTH_DATABASE_URL": f"sqlite:///{tmp_path / 'auth.db'}",
    }
    # -o: take the installed virtualenv as it is (the shared one; no pip run from a test).
    result = make(
        "-o",
        ".venv/.installed-run",
        "adduser",
        "USERID=alice",
        "PASSWORD_STDIN=1",
        stdin="a long passphrase\n",
        env=store,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alice" in result.stdout
    assert "Password" not in result.stdout + result.stderr  # no prompt, no GetPassWarning


def test_adduser_without_a_userid_says_how():
    result = make("-o", ".venv/.installed-run", "adduser")
    assert result.returncode != 0
    assert "usage: make adduser USERID=name [PASSWORD_STDIN=1]" in result.stderr
