"""Hashing: argon2id parameters, unknown users cost a check, scrypt imports, the bounded pool."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import time
from unittest import mock

import pytest
from argon2 import PasswordHasher, extract_parameters

from auth_service import passwords as passwords_mod
from auth_service.config import Settings
from auth_service.passwords import Passwords, verify_scrypt


@pytest.fixture(scope="module")
def pw() -> Passwords:
    p = Passwords(time_cost=1, memory_kib=1024)
    yield p
    p.close()


def old_scrypt(password: str, salt: bytes = b"0123456789abcdef") -> str:
    """A hash exactly as the old users file stored it (n=2**14, r=8, p=1)."""
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "$".join(
        [
            "scrypt",
            "16384",
            "8",
            "1",
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def test_production_defaults_are_owasp_argon2id_t2_m19mib_p1():
    s = Settings.from_env({"SECRET_KEY": "k"})
    assert (s.argon2_time_cost, s.argon2_memory_kib) == (2, 19456)
    pw = Passwords(s.argon2_time_cost, s.argon2_memory_kib, workers=1)
    params = extract_parameters(pw.hash("x"))
    assert (params.type.name, params.time_cost, params.memory_cost, params.parallelism) == (
        "ID",
        2,
        19456,
        1,
    )


def test_a_hash_with_other_parameters_is_replaced_at_login():
    # Hashes made with Authelia's t=3, m=64 MiB, p=4 still verify, and are re-hashed.
    pw = Passwords(2, 19456, workers=1)
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("x")
    check = pw.check("x", old)
    assert check.ok and check.rehash is not None
    assert extract_parameters(check.rehash).memory_cost == 19456


def test_hash_and_check(pw):
    encoded = pw.hash("pässword")
    assert encoded.startswith("$argon2id$")
    assert "pässword" not in encoded
    assert pw.hash("pässword") != encoded  # fresh salt
    assert pw.check("pässword", encoded).ok
    assert not pw.check("password", encoded).ok
    assert not pw.check("", encoded).ok


def test_unknown_user_costs_a_check_too(pw):
    with mock.patch.object(pw, "_argon2", wraps=pw._argon2) as spy:
        assert pw.check("x", None) == passwords_mod.Check(False)
    spy.assert_called_once_with("x", pw._dummy)


@pytest.mark.parametrize("encoded", ["", "plain", "md5$1$2$3$x$y", "$argon2id$v=19$garbage"])
def test_unusable_hash_never_verifies(pw, encoded):
    assert not pw.check("x", encoded).ok


@pytest.mark.parametrize(
    "encoded", ["scrypt$3$8$1$AAAA$AAAA", "scrypt$16384$8$1$!!$AA", "scrypt$1$2"]
)
def test_malformed_scrypt_never_verifies(encoded):
    assert not verify_scrypt("x", encoded)


def test_old_scrypt_hash_verifies_and_is_rehashed(pw):
    old = old_scrypt("s3cret")
    assert not pw.check("wrong", old).ok
    result = pw.check("s3cret", old)
    assert result.ok
    assert result.rehash is not None and result.rehash.startswith("$argon2id$")
    assert pw.check("s3cret", result.rehash) == passwords_mod.Check(True)


def test_weaker_argon2_parameters_are_rehashed(pw):
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=4).hash("s3cret")
    assert pw.check("s3cret", weak).rehash is not None


def test_pool_runs_at_most_one_hash_per_worker():
    """However many checks are queued, no more than `workers` run at the same time."""
    pw = Passwords(time_cost=1, memory_kib=64, workers=2)
    running, peak, lock = 0, 0, threading.Lock()
    real = pw.check

    def counting(password: str, encoded: str | None) -> passwords_mod.Check:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.01)
            return real(password, encoded)
        finally:
            with lock:
                running -= 1

    async def main() -> None:
        with mock.patch.object(pw, "check", counting):
            await asyncio.gather(*(pw.check_queued("x", None) for _ in range(20)))

    asyncio.run(main())
    pw.close()
    assert peak == 2


def test_hash_memory_goes_back_to_the_system_on_glibc():
    # A fixed mmap threshold: each check's block is mapped alone and unmapped at free.
    assert passwords_mod.give_hash_memory_back() is True
