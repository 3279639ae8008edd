"""User accounts: the rules for user ids and passwords, and the operations the CLI offers.

Passwords are never stored, only argon2id hashes (see passwords.py). The accounts live in
the store; the JSON users file of earlier versions is gone, and `import-users` copies one
in (its scrypt hashes keep working and become argon2id at the user's next login).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auth_service.passwords import Passwords
    from auth_service.store import Store

# Only characters that are valid in a cookie value (RFC 6265 section 4.1.1
# cookie-octet) and in an HTTP header value, so the X-Auth-User header never needs
# quoting or escaping.
USERID_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class InvalidUserError(ValueError):
    """A user id, password or users file that will not be accepted."""


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


class Accounts:
    """Add, change and remove users in the store (the CLI and the demo user)."""

    def __init__(
        self, store: Store, passwords: Passwords, now: Callable[[], float] = time.time
    ) -> None:
        self.store, self.passwords, self._now = store, passwords, now

    def set_password(self, userid: str, password: str) -> bool:
        """Add the user or change their password; True if the user is new."""
        check_userid(userid)
        check_password(password)
        return self.store.set_password(userid, self.passwords.hash(password), self._now())

    def change_password(self, userid: str, password: str) -> None:
        check_userid(userid)
        check_password(password)
        if not self.store.change_password(userid, self.passwords.hash(password), self._now()):
            raise InvalidUserError(f"no user {userid!r}")

    def delete(self, userid: str) -> None:
        if not self.store.delete_user(check_userid(userid)):
            raise InvalidUserError(f"no user {userid!r}")

    def ensure(self, userid: str, password: str) -> bool:
        """Make sure `userid` logs in with `password`; True if the store was written.

        Idempotent: when the stored hash already verifies, nothing is written, so a
        restart neither rewrites the user nor ends their sessions.
        """
        check_userid(userid)
        check_password(password)
        stored = self.store.password_hash(userid)
        if stored is not None and self.passwords.check(password, stored).ok:
            return False
        self.set_password(userid, password)
        return True

    def import_file(self, path: Path) -> tuple[list[str], list[str]]:
        """Copy users from an old JSON users file; (imported, skipped as already present)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidUserError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise InvalidUserError(f"{path}: expected a JSON object of user ID -> hash")
        imported, skipped = [], []
        for userid, encoded in sorted(data.items()):
            check_userid(userid)
            if not encoded.startswith(("scrypt$", "$argon2")):
                raise InvalidUserError(f"{path}: user {userid!r}: unknown hash format")
            if self.store.password_hash(userid) is not None:
                skipped.append(userid)  # never overwrite a password set since
                continue
            self.store.set_password(userid, encoded, self._now())
            imported.append(userid)
        return imported, skipped
