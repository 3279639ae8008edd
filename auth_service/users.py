"""The user store: a JSON file mapping user ids to salted scrypt password hashes.

Passwords are never stored: only `scrypt$n$r$p$salt_b64$hash_b64` strings made
with the stdlib's `hashlib.scrypt` (a memory-hard KDF, RFC 7914). The file is
re-read on every check so `python -m auth_service adduser` takes effect without a
restart, and every write replaces it atomically so a reader never sees half a file.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# Only characters that are valid in a cookie value (RFC 6265 section 4.1.1
# cookie-octet) and in an HTTP header value, so the signed session cookie and
# the X-Auth-User header never need quoting or escaping.
USERID_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")

# n=2**14, r=8, p=1 is the usual interactive-login setting: ~16 MiB and tens of
# milliseconds per check, which makes offline guessing expensive.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
_MAXMEM = 64 * 1024 * 1024  # refuse absurd parameters from a tampered file


class InvalidUserError(ValueError):
    """A user id or password that the store will not accept."""


class UserStoreError(RuntimeError):
    """The users file exists but cannot be used (bad JSON, wrong shape)."""


def check_userid(userid: str) -> str:
    """Return `userid` unchanged if it is acceptable, else raise InvalidUserError."""
    if not USERID_RE.fullmatch(userid):
        raise InvalidUserError(
            f"invalid user ID {userid!r}: use 1-64 characters from A-Z a-z 0-9 . _ @ -"
        )
    return userid


def check_password(password: str) -> str:
    if not password:
        raise InvalidUserError("the password must not be empty")
    return password


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash with a fresh random salt, encoded as `scrypt$n$r$p$salt_b64$hash_b64`."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return "$".join(
        ["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)]
    )


def verify_password(password: str, encoded: str) -> bool:
    """Check `password` against an encoded hash; a malformed hash never verifies."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            raise ValueError(f"unknown scheme {scheme!r}")
        expected = base64.b64decode(digest_b64, validate=True)
        salt = base64.b64decode(salt_b64, validate=True)
        actual = _scrypt(password, salt, int(n), int(r), int(p), len(expected))
    except (ValueError, OverflowError) as exc:  # binascii.Error, scrypt's parameter checks
        log.warning("unusable password hash in the users file: %s", exc)
        return False
    # Constant-time comparison: timing must not reveal how many bytes matched.
    return hmac.compare_digest(actual, expected)


class UserStore:
    """Users kept in a JSON file `{userid: encoded_hash}`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Checked for unknown user ids so they cost as much as known ones and a
        # timing attacker cannot tell which user ids exist.
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))

    def load(self) -> dict[str, str]:
        """All users; a missing file is an empty store."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserStoreError(f"{self.path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise UserStoreError(f"{self.path}: expected a JSON object of user ID -> hash")
        return data

    def verify(self, userid: str, password: str) -> bool:
        """True if the user exists and the password matches; similar cost either way."""
        encoded = self.load().get(userid) if USERID_RE.fullmatch(userid) else None
        if encoded is None:
            verify_password(password, self._dummy_hash)
            return False
        return verify_password(password, encoded)

    def set_password(self, userid: str, password: str) -> bool:
        """Add the user or replace their password; True if the user is new."""
        check_userid(userid)
        check_password(password)
        encoded = hash_password(password)
        with self._locked():
            users = self.load()
            is_new = userid not in users
            users[userid] = encoded
            self._write(users)
        return is_new

    def ensure_user(self, userid: str, password: str) -> bool:
        """Make sure `userid` logs in with `password`; True if the file was written.

        Idempotent: when the stored hash already verifies, the file is left alone
        (no rewrite on every restart, and a read-only file is fine).
        """
        check_userid(userid)
        check_password(password)
        encoded = self.load().get(userid)
        if encoded is not None and verify_password(password, encoded):
            return False
        self.set_password(userid, password)
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-modify-write between the service and `adduser`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, users: dict[str, str]) -> None:
        """Write to a temp file in the same directory, then os.replace() it in.

        os.replace is atomic on POSIX within one file system, so readers see the
        old file or the new one, never a torn write. mkstemp creates it 0600.
        """
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)
                json.dump(users, f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        # surrogatepass: odd input must fail the comparison, not raise.
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=_MAXMEM,
        dklen=dklen,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
