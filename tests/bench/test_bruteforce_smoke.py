"""The brute-force bench in miniature: 30 guesses, 10 at a time, cheap argon2 (a few s)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def test_bruteforce_smoke_bans_after_max_retries(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bruteforce",
            "--guesses=30",
            "--concurrency=10",
            "--baseline=2",
            "--argon2-memory-kib=1024",
            f"--out={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((tmp_path / "bruteforce.json").read_text())
    assert data["attacker"]["statuses"] == {"401": 5, "429": 25}
    assert data["attacker_passwords_checked"] == 5
    assert set(data["legitimate_statuses"]) == {"200", "303"}
    assert data["bans"] == {"user": 1.0, "address": 1.0}
