"""Password hashing: argon2id in a bounded pool, and the old scrypt hashes still verified.

argon2id (RFC 9106) via argon2-cffi, by default t=2 passes over m=19 MiB with p=1 lane:
the first of OWASP's Password Storage Cheat Sheet settings (which it rates as strong as
t=3 over 12 MiB or t=1 over 46 MiB). Not RFC 9106's t=3 over 64 MiB with p=4 (Authelia's
default): with one check per core that alone is 128 MiB on a 2-core machine, and issue 10
asks that a brute-force run grow the service by less than 50 MB; its p=4 lanes also
compete for the same cores as the other check. Each check holds its memory while it runs,
so checks run in a pool of one thread per core and the rest wait in its queue: memory stays
flat however many guesses arrive (issue 10 measured 856 MB with one scrypt thread per guess).

An unknown user id costs one check against a dummy hash made with the same parameters,
so timing does not tell which ids exist. A hash made with other parameters, or a scrypt
hash imported from the old users file, is replaced by a fresh one at the next login.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger("gatehouse.auth")

ARGON2_PARALLELISM = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024  # refuse absurd parameters from a tampered hash


@dataclass(frozen=True)
class Check:
    ok: bool
    rehash: str | None = None  # a fresh hash of the same password to store instead


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def give_hash_memory_back() -> bool:
    """Have glibc serve each argon2 check's memory with its own mmap, returned at free.

    glibc raises its mmap threshold to the size of the first large block freed (up to 32 MiB),
    so from the second check on a 19 MiB block comes from the hashing thread's arena and stays
    resident after it: issue 10's brute-force run grew the service by 62 MB and kept it. A
    fixed threshold (which also turns the dynamic one off, mallopt(3)) keeps growth to the
    checks in flight (41 MB at the peak, given back afterwards). False where there is no glibc.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024))
    except (OSError, AttributeError, TypeError):
        return False


class Passwords:
    def __init__(self, time_cost: int, memory_kib: int, workers: int | None = None) -> None:
        give_hash_memory_back()
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=ARGON2_PARALLELISM
        )
        self.workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="argon2")

    @cached_property
    def _dummy(self) -> str:
        """What an unknown user's password is checked against: same parameters, same cost."""
        return self.hash(secrets.token_urlsafe(16))

    def prepare(self) -> None:
        """Make the dummy hash now, so the first unknown user costs no more than later ones."""
        _ = self._dummy

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def check(self, password: str, encoded: str | None) -> Check:
        """Does `password` match `encoded` (None: an unknown user)? Same cost either way."""
        if encoded is None:
            self._argon2(password, self._dummy)
            return Check(False)
        if encoded.startswith("scrypt$"):
            ok = verify_scrypt(password, encoded)
            return Check(ok, self.hash(password) if ok else None)
        try:
            ok = self._argon2(password, encoded)
        except InvalidHashError:
            log.warning("unusable password hash in the store; the login is refused")
            self._argon2(password, self._dummy)
            return Check(False)
        if ok and self._hasher.check_needs_rehash(encoded):
            return Check(True, self.hash(password))
        return Check(ok)

    async def check_queued(self, password: str, encoded: str | None) -> Check:
        """`check` in the bounded pool: at most one hash per core at a time, the rest queue."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.check, password, encoded)

    async def hash_queued(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _argon2(self, password: str, encoded: str) -> bool:
        try:
            return self._hasher.verify(encoded, password.encode("utf-8", "surrogatepass"))
        except VerificationError:
            return False


def verify_scrypt(password: str, encoded: str) -> bool:
    """Check a `scrypt$n$r$p$salt_b64$hash_b64` hash from the old users file."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            raise ValueError(f"unknown scheme {scheme!r}")
        expected = base64.b64decode(digest_b64, validate=True)
        actual = hashlib.scrypt(
            # surrogatepass: odd input must fail the comparison, not raise.
            password.encode("utf-8", "surrogatepass"),
            salt=base64.b64decode(salt_b64, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, OverflowError) as exc:  # binascii.Error, scrypt's parameter checks
        log.warning("unusable scrypt hash in the store: %s", exc)
        return False
    # Constant-time comparison: timing must not reveal how many bytes matched.
    return hmac.compare_digest(actual, expected)
