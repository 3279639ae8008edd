"""Login regulation: ban a user id or a client address after a run of failed logins.

Modelled on Authelia's regulator (internal/regulation/regulator.go): `max_retries`
consecutive failures within `find_time` seconds ban for `ban_time` seconds, and a success
ends the run. Two differences:
- both the user id and the client address are counted, each on its own, so one address
  spraying many ids is banned as surely as many addresses guessing one id;
- attempts in flight count. An attempt is recorded as "pending" before its password is
  checked, and while failures plus pending attempts already reach `max_retries`, a new
  attempt waits for them to settle instead of starting. So fifty guesses sent at once
  get exactly `max_retries` passwords checked, then the ban; and fifty right passwords
  sent at once all get in, a few at a time, since each success ends the run.

Unknown user ids are counted exactly like real ones, so a ban reveals nothing about which
ids exist. Bans and attempts live in the store, so every replica enforces them.
"""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.store import BANNED, OK, PENDING, WRONG, Store

KINDS = ("user", "address")


@dataclass(frozen=True)
class Attempt:
    """The go-ahead to check a password (`id`), a refusal (`banned_until`), or neither:
    wait for the attempts in flight to settle, then ask again."""

    id: int | None = None
    banned_until: float | None = None
    new_bans: tuple[str, ...] = ()  # kinds this attempt banned

    @property
    def must_wait(self) -> bool:
        return self.id is None and self.banned_until is None


WAIT = Attempt()


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
        """Admit an attempt, refuse it (banned), or tell it to wait (`must_wait`)."""
        if not self.enabled:
            return Attempt(id=0)
        with self.store.db.transaction(lock=True) as tx:
            until = self.store.ban_until(tx, userid, address, now)
            if until is not None:
                self.store.add_attempt(tx, now, userid, address, BANNED)
                return Attempt(banned_until=until)
            for kind, subject in zip(KINDS, (userid, address), strict=True):
                failed, pending = self.store.streak(tx, kind, subject, now - self.find_time)
                # (With no pending attempt, a run whose ban has ended gets one more try.)
                if pending and failed + pending >= self.max_retries:
                    return WAIT
            return Attempt(id=self.store.add_attempt(tx, now, userid, address, PENDING))

    def finish(self, attempt: Attempt, userid: str, address: str, ok: bool, now: float) -> Attempt:
        """Settle an attempt; a failure that completes a run bans. Returns what it banned."""
        if not self.enabled or not attempt.id:
            return attempt
        banned = []
        with self.store.db.transaction(lock=True) as tx:
            self.store.settle_attempt(tx, attempt.id, OK if ok else WRONG)
            if ok:
                return attempt
            for kind, subject in zip(KINDS, (userid, address), strict=True):
                failed, _ = self.store.streak(tx, kind, subject, now - self.find_time)
                if failed >= self.max_retries:
                    self.store.ban(tx, kind, subject, now + self.ban_time)
                    banned.append(kind)
        return Attempt(id=attempt.id, new_bans=tuple(banned))
