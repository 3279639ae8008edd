"""The thin layer between the store's plain SQL and its two backends.

SQLite (stdlib `sqlite3`, WAL mode) is the embedded default; PostgreSQL (psycopg 3) lets
several auth replicas share one store. The SQL is written once, with `?` placeholders and
types both accept; the only differences live here: the placeholder style, the
auto-increment column, and how a writer takes the store's one lock.

Calls are blocking: the app runs them in a worker thread. Connections come from a small
pool (at most `size` open at once); one that failed at the connection level is dropped.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

Row = tuple[Any, ...]


class StoreError(RuntimeError):
    """The store cannot be reached or used; the message says which and why."""


class _Conn(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def close(self) -> None: ...


class Tx:
    """One transaction: run statements, read rows. Commits when its block ends cleanly."""

    def __init__(self, conn: _Conn, placeholder: str) -> None:
        self._conn = conn
        self._placeholder = placeholder

    def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; the number of rows it changed."""
        cursor = self._conn.execute(self._sql(sql), params)
        return max(int(cursor.rowcount), 0)

    def one(self, sql: str, *params: Any) -> Row | None:
        row = self._conn.execute(self._sql(sql), params).fetchone()
        return None if row is None else tuple(row)

    def value(self, sql: str, *params: Any) -> Any:
        row = self.one(sql, *params)
        return None if row is None else row[0]

    def _sql(self, sql: str) -> str:
        return sql if self._placeholder == "?" else sql.replace("?", self._placeholder)


class Database:
    """A pool of connections to one store, and the dialect it speaks."""

    serial_pk: str  # an auto-increment integer primary key column type
    placeholder: str
    errors: tuple[type[BaseException], ...]

    def __init__(self, size: int = 8) -> None:
        self._idle: queue.LifoQueue[_Conn] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @staticmethod
    def from_url(url: str, size: int = 8) -> Database:
        if url.startswith("sqlite:///"):
            return SQLiteDatabase(Path(url.removeprefix("sqlite:///")), size)
        return PostgresDatabase(url, size)

    @contextlib.contextmanager
    def transaction(self, *, lock: bool = False) -> Iterator[Tx]:
        """A transaction; `lock=True` takes the store's write lock at its start, so
        read-then-write sequences (migrations, the login regulator's counts) are serialised
        across threads, processes and replicas."""
        with self._connection(lock) as conn:
            try:
                yield Tx(conn, self.placeholder)
            except BaseException:
                with contextlib.suppress(*self.errors):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            self._discard(conn)

    @contextlib.contextmanager
    def _connection(self, lock: bool) -> Iterator[_Conn]:
        """A connection from the pool with a transaction begun on it."""
        if not self._slots.acquire(timeout=30):
            raise StoreError("no free store connection after 30 s")
        try:
            conn = self._begun(lock)
            try:
                yield conn
            except self.errors as exc:
                if self._broken(exc):
                    self._discard(conn)
                    raise StoreError(f"store connection lost: {exc}") from exc
                self._idle.put(conn)
                raise StoreError(f"{self.describe()}: {exc}") from exc
            except BaseException:
                self._idle.put(conn)
                raise
            self._idle.put(conn)
        finally:
            self._slots.release()

    def _begun(self, lock: bool) -> _Conn:
        """An idle connection, or a new one, in a fresh transaction. A pooled connection
        found dead (the server restarted, or ended our session) is replaced once."""
        with contextlib.suppress(queue.Empty):
            conn = self._idle.get_nowait()
            try:
                self._begin(conn, lock)
                return conn
            except self.errors as exc:
                if not self._broken(exc):
                    self._idle.put(conn)
                    raise StoreError(f"{self.describe()}: {exc}") from exc
                self._discard(conn)
        conn = self._connect()
        try:
            self._begin(conn, lock)
        except self.errors as exc:
            self._discard(conn)
            raise StoreError(f"{self.describe()}: {exc}") from exc
        return conn

    def _discard(self, conn: _Conn) -> None:
        with contextlib.suppress(*self.errors):
            conn.close()

    def _connect(self) -> _Conn:
        raise NotImplementedError

    def _begin(self, conn: _Conn, lock: bool) -> None:
        raise NotImplementedError

    def _broken(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class SQLiteDatabase(Database):
    serial_pk = "INTEGER PRIMARY KEY"  # the rowid: increasing, as the regulator needs
    placeholder = "?"
    errors = (sqlite3.Error,)

    def __init__(self, path: Path, size: int = 8) -> None:
        super().__init__(size)
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves. timeout: how long a
            # writer waits for another's lock (another thread, replica or the CLI).
            conn = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            # WAL: readers never block the writer nor the writer them (sqlite.org/wal.html);
            # synchronous=NORMAL is safe from corruption in WAL mode and skips an fsync
            # per commit (a power cut may lose the last commits: sessions, not users' data).
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        return conn

    def _begin(self, conn: _Conn, lock: bool) -> None:
        # IMMEDIATE takes the write lock now instead of at the first write, so two writers
        # never both read a count and then both act on it.
        conn.execute("BEGIN IMMEDIATE" if lock else "BEGIN")

    def _broken(self, exc: BaseException) -> bool:
        return False  # a file: nothing to reconnect

    def describe(self) -> str:
        return f"SQLite {self.path}"


class PostgresDatabase(Database):
    serial_pk = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    placeholder = "%s"
    # Any key: serialises the store's writers across all replicas (pg_advisory_xact_lock).
    LOCK_KEY = 0x6761_7465  # "gate"

    def __init__(self, url: str, size: int = 8) -> None:
        super().__init__(size)
        import psycopg  # imported only when PostgreSQL is configured

        self._psycopg = psycopg
        self.errors = (psycopg.Error,)
        self.url = url

    def _connect(self) -> _Conn:
        try:
            return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc

    def _begin(self, conn: _Conn, lock: bool) -> None:
        conn.execute("BEGIN")
        if lock:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.LOCK_KEY,))

    def _broken(self, exc: BaseException) -> bool:
        return isinstance(exc, self._psycopg.OperationalError)

    def describe(self) -> str:
        return "PostgreSQL"
