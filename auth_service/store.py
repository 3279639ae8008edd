"""The auth service's one storage layer: users, sessions, login attempts and bans.

Plain SQL that SQLite and PostgreSQL both accept (see `db.py` for the few differences).
The schema is versioned: `migrate()` runs at every start, applies the migrations the store
has not seen yet inside one locked transaction, and does nothing the second time, so
several replicas may start at once. Times are Unix seconds as floats.

Every method is a short blocking call; the app runs them in a worker thread and asks the
store on every request, so a change made by the CLI (`adduser`, `passwd`, `deluser`) or by
another replica is seen at once: there is no in-memory copy to go stale.
"""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.db import Database, StoreError, Tx

__all__ = ["Store", "StoreError", "StoredSession"]

# Attempt outcomes as stored; "pending" is a login whose password is being checked.
PENDING, OK, WRONG, BANNED = "pending", "ok", "wrong", "banned"

USER_AGENT_MAX = 256


def _migrations(db: Database) -> list[list[str]]:
    """Schema versions 1..N, in order; never edit a released one, append a new one."""
    return [
        [
            """CREATE TABLE users (
                userid TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                userid TEXT NOT NULL,
                issued DOUBLE PRECISION NOT NULL,
                expires DOUBLE PRECISION NOT NULL,
                revoked DOUBLE PRECISION,
                address TEXT NOT NULL,
                user_agent TEXT NOT NULL)""",
            "CREATE INDEX sessions_by_user ON sessions (userid)",
            "CREATE INDEX sessions_by_expiry ON sessions (expires)",
            f"""CREATE TABLE login_attempts (
                id {db.serial_pk},
                at DOUBLE PRECISION NOT NULL,
                userid TEXT NOT NULL,
                address TEXT NOT NULL,
                outcome TEXT NOT NULL)""",
            "CREATE INDEX login_attempts_by_user ON login_attempts (userid, id)",
            "CREATE INDEX login_attempts_by_address ON login_attempts (address, id)",
            "CREATE INDEX login_attempts_by_time ON login_attempts (at)",
            """CREATE TABLE bans (
                kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                until DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (kind, subject))""",
        ],
    ]


@dataclass(frozen=True)
class StoredSession:
    userid: str
    expires: float
    revoked: float | None


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date."""
        store = cls(Database.from_url(url))
        store.migrate()
        return store

    def close(self) -> None:
        self.db.close()

    # --- schema ---------------------------------------------------------------------

    @property
    def latest_version(self) -> int:
        return len(_migrations(self.db))

    def migrate(self) -> int:
        """Apply missing migrations; return the schema version now in the store."""
        migrations = _migrations(self.db)
        with self.db.transaction(lock=True) as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = tx.value("SELECT MAX(version) FROM schema_version") or 0
            if current > len(migrations):
                raise StoreError(
                    f"the store has schema version {current}, newer than this code's "
                    f"{len(migrations)}: run the newer auth service"
                )
            for version in range(current + 1, len(migrations) + 1):
                for statement in migrations[version - 1]:
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)
            return len(migrations)

    def version(self) -> int:
        with self.db.transaction() as tx:
            return tx.value("SELECT MAX(version) FROM schema_version") or 0

    def ping(self) -> None:
        """Raise if the store does not answer (readiness)."""
        with self.db.transaction() as tx:
            tx.value("SELECT COUNT(*) FROM schema_version")

    # --- users ----------------------------------------------------------------------

    def password_hash(self, userid: str) -> str | None:
        with self.db.transaction() as tx:
            found: str | None = tx.value("SELECT password_hash FROM users WHERE userid = ?", userid)
        return found

    def set_password(self, userid: str, password_hash: str, now: float) -> bool:
        """Add the user or replace their password; True if the user is new.

        A changed password also ends the user's sessions: whoever knew the old one
        must not stay logged in.
        """
        with self.db.transaction(lock=True) as tx:
            if tx.execute(
                "UPDATE users SET password_hash = ?, updated = ? WHERE userid = ?",
                password_hash,
                now,
                userid,
            ):
                _revoke_user(tx, userid, now)
                return False
            tx.execute(
                "INSERT INTO users (userid, password_hash, created, updated) VALUES (?, ?, ?, ?)",
                userid,
                password_hash,
                now,
                now,
            )
            return True

    def change_password(self, userid: str, password_hash: str, now: float) -> bool:
        """Replace an existing user's password (ending their sessions); False if no such user."""
        with self.db.transaction(lock=True) as tx:
            if not tx.execute(
                "UPDATE users SET password_hash = ?, updated = ? WHERE userid = ?",
                password_hash,
                now,
                userid,
            ):
                return False
            _revoke_user(tx, userid, now)
            return True

    def upgrade_hash(self, userid: str, old: str, new: str, now: float) -> bool:
        """Store a re-hash of the same password, unless the password changed meanwhile."""
        with self.db.transaction() as tx:
            return bool(
                tx.execute(
                    "UPDATE users SET password_hash = ?, updated = ? "
                    "WHERE userid = ? AND password_hash = ?",
                    new,
                    now,
                    userid,
                    old,
                )
            )

    def delete_user(self, userid: str) -> bool:
        """Remove the user and all their sessions; False if no such user."""
        with self.db.transaction(lock=True) as tx:
            tx.execute("DELETE FROM sessions WHERE userid = ?", userid)
            return bool(tx.execute("DELETE FROM users WHERE userid = ?", userid))

    # --- sessions -------------------------------------------------------------------

    def create_session(
        self,
        session_id: str,
        userid: str,
        issued: float,
        expires: float,
        address: str,
        user_agent: str,
    ) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO sessions (id, userid, issued, expires, revoked, address, user_agent)"
                " VALUES (?, ?, ?, ?, NULL, ?, ?)",
                session_id,
                userid,
                issued,
                expires,
                address,
                user_agent[:USER_AGENT_MAX],
            )

    def session(self, session_id: str) -> StoredSession | None:
        with self.db.transaction() as tx:
            row = tx.one("SELECT userid, expires, revoked FROM sessions WHERE id = ?", session_id)
        return None if row is None else StoredSession(*row)

    def revoke_session(self, session_id: str, now: float) -> bool:
        with self.db.transaction() as tx:
            return bool(
                tx.execute(
                    "UPDATE sessions SET revoked = ? WHERE id = ? AND revoked IS NULL",
                    now,
                    session_id,
                )
            )

    def revoke_user_sessions(self, userid: str, now: float) -> int:
        with self.db.transaction() as tx:
            return _revoke_user(tx, userid, now)

    def active_sessions(self, now: float) -> int:
        with self.db.transaction() as tx:
            return int(
                tx.value("SELECT COUNT(*) FROM sessions WHERE revoked IS NULL AND expires > ?", now)
            )

    def purge(self, now: float, attempts_before: float) -> dict[str, int]:
        """Drop expired sessions and bans, and attempts too old to count; the numbers dropped."""
        with self.db.transaction() as tx:
            return {
                "sessions": tx.execute("DELETE FROM sessions WHERE expires <= ?", now),
                "bans": tx.execute("DELETE FROM bans WHERE until <= ?", now),
                "attempts": tx.execute("DELETE FROM login_attempts WHERE at < ?", attempts_before),
            }

    # --- login attempts and bans (the policy is in regulation.py) ---------------------

    def ban_until(self, tx: Tx, userid: str, address: str, now: float) -> float | None:
        """When the later of the user's and the address's active bans ends, if any."""
        until: float | None = tx.value(
            "SELECT MAX(until) FROM bans WHERE until > ? AND "
            "((kind = 'user' AND subject = ?) OR (kind = 'address' AND subject = ?))",
            now,
            userid,
            address,
        )
        return until

    def add_attempt(self, tx: Tx, now: float, userid: str, address: str, outcome: str) -> int:
        row = tx.one(
            "INSERT INTO login_attempts (at, userid, address, outcome) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            now,
            userid,
            address,
            outcome,
        )
        assert row is not None
        return int(row[0])

    def settle_attempt(self, tx: Tx, attempt_id: int, outcome: str) -> None:
        tx.execute("UPDATE login_attempts SET outcome = ? WHERE id = ?", outcome, attempt_id)

    def streak(self, tx: Tx, kind: str, subject: str, since: float) -> tuple[int, int]:
        """(failed, still pending) attempts of one user id or address newer than `since`
        and after its last success (Authelia's regulator stops counting at the last
        success too)."""
        column = {"user": "userid", "address": "address"}[kind]
        row = tx.one(
            "SELECT COALESCE(SUM(CASE WHEN outcome = ? THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN outcome = ? THEN 1 ELSE 0 END), 0) "
            f"FROM login_attempts WHERE {column} = ? AND at > ? AND id > COALESCE("
            f"(SELECT MAX(id) FROM login_attempts WHERE {column} = ? AND outcome = ?), 0)",
            WRONG,
            PENDING,
            subject,
            since,
            subject,
            OK,
        )
        assert row is not None
        return int(row[0]), int(row[1])

    def ban(self, tx: Tx, kind: str, subject: str, until: float) -> None:
        tx.execute(
            "INSERT INTO bans (kind, subject, until) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, subject) DO UPDATE SET until = excluded.until",
            kind,
            subject,
            until,
        )


def _revoke_user(tx: Tx, userid: str, now: float) -> int:
    return tx.execute(
        "UPDATE sessions SET revoked = ? WHERE userid = ? AND revoked IS NULL", now, userid
    )
