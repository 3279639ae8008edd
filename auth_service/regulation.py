"""Login regulation: ban a user id or a client address after a run of failed logins.

Modelled on Authelia's regulator (internal/regulation/regulator.go): `max_retries`
consecutive failures within `find_time` seconds ban for `ban_time` seconds, and a success
ends the run. Two differences:
- both the user id and the client address are counted, each on its own, so one address
  spraying many ids is banned as surely as many addresses guessing one id;
- an attempt is recorded as "pending" *before* its password is checked and counts as a
  failure until settled: fifty guesses sent at once see each other, and only the first
  `max_retries` are hashed at all.

Unknown user ids are counted exactly like real ones, so a ban reveals nothing about which
ids exist. Bans and attempts live in the store, so every replica enforces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auth_service.db import Tx
from auth_service.store import BANNED, OK, PENDING, WRONG, Store

KINDS = ("user", "address")


@dataclass(frozen=True)
class Attempt:
    """Either the go-ahead to check a password (`id`) or a refusal (`banned_until`)."""

    id: int | None = None
    banned_until: float | None = None
    new_bans: tuple[str, ...] = field(default=())  # kinds this attempt banned


class Regulator:
    def __init__(self, store: Store, max_retries: int, find_time: float, ban_time: float) -> None:
        self.store = store
        self.max_retries = max_retries
        self.find_time = find_time
        self.ban_time = ban_time

    @property
    def enabled(self) -> bool:
        return self.max_retries > 0

    def begin(self, userid: str, address: str, now: float) -> Attempt:
        """Record an attempt; refuse it if the user id or the address is banned."""
        if not self.enabled:
            return Attempt(id=0)
        with self.store.db.transaction(lock=True) as tx:
            until = self.store.ban_until(tx, userid, address, now)
            if until is not None:
                self.store.add_attempt(tx, now, userid, address, BANNED)
                return Attempt(banned_until=until)
            attempt_id = self.store.add_attempt(tx, now, userid, address, PENDING)
            over = self._reached(tx, attempt_id, userid, address, now, beyond=True)
            if not over:
                return Attempt(id=attempt_id)
            # More attempts in flight than retries allowed: this one is past the limit
            # whatever the others' outcome, so the ban starts now.
            until = now + self.ban_time
            for kind, subject in over:
                self.store.ban(tx, kind, subject, until)
            self.store.settle_attempt(tx, attempt_id, BANNED)
            return Attempt(banned_until=until, new_bans=tuple(kind for kind, _ in over))

    def finish(self, attempt: Attempt, userid: str, address: str, ok: bool, now: float) -> Attempt:
        """Settle an attempt; a failure that completes a run bans. Returns what it banned."""
        if not self.enabled or attempt.id is None:
            return attempt
        with self.store.db.transaction(lock=True) as tx:
            self.store.settle_attempt(tx, attempt.id, OK if ok else WRONG)
            if ok:
                return attempt
            reached = self._reached(tx, attempt.id, userid, address, now, beyond=False)
            until = now + self.ban_time
            for kind, subject in reached:
                self.store.ban(tx, kind, subject, until)
        return Attempt(id=attempt.id, new_bans=tuple(kind for kind, _ in reached))

    def _reached(
        self, tx: Tx, attempt_id: int, userid: str, address: str, now: float, *, beyond: bool
    ) -> list[tuple[str, str]]:
        """The (kind, subject) pairs whose run reaches the limit (or goes past it)."""
        since = now - self.find_time
        reached = []
        for kind, subject in zip(KINDS, (userid, address), strict=True):
            run = self.store.streak(tx, kind, subject, attempt_id, since)
            if run > self.max_retries or (not beyond and run >= self.max_retries):
                reached.append((kind, subject))
        return reached
