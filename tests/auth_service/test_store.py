"""The store on both backends: schema migration, users, sessions, purge, concurrency."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from auth_service.db import Database
from auth_service.store import Store, StoredSession, StoreError

T = 1_700_000_000.0


def test_migrate_is_versioned_and_idempotent(store, store_url):
    assert store.version() == store.latest_version == 1
    assert store.migrate() == 1  # again: nothing to do, nothing fails
    other = Store.open(store_url)  # a second replica starting on the same store
    try:
        assert other.version() == 1
    finally:
        other.close()


def test_sqlite_is_in_wal_mode(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_newer_schema_is_refused(store, store_url):
    with store.db.transaction() as tx:
        tx.execute("INSERT INTO schema_version (version) VALUES (?)", 99)
    with pytest.raises(StoreError, match="schema version 99"):
        Store.open(store_url)


def test_users(store):
    assert store.password_hash("alice") is None
    assert store.set_password("alice", "h1", T) is True
    assert store.set_password("alice", "h2", T) is False
    assert store.password_hash("alice") == "h2"
    assert store.change_password("alice", "h3", T) is True
    assert store.change_password("bob", "h3", T) is False
    assert store.upgrade_hash("alice", "stale", "h4", T) is False  # changed meanwhile
    assert store.upgrade_hash("alice", "h3", "h4", T) is True
    assert store.password_hash("alice") == "h4"
    assert store.delete_user("alice") is True
    assert store.delete_user("alice") is False
    assert store.password_hash("alice") is None


def new_session(store: Store, sid: str = "s" * 32, userid: str = "alice", issued: float = T):
    store.create_session(sid, userid, issued, issued + 30, "127.0.0.1", "curl/8 " + "x" * 500)


def test_sessions_revoke_one(store):
    new_session(store, "a" * 32)
    new_session(store, "b" * 32)
    assert store.session("a" * 32) == StoredSession("alice", T + 30, None)
    assert store.session("c" * 32) is None
    assert store.active_sessions(T) == 2
    assert store.revoke_session("a" * 32, T + 1) is True
    assert store.revoke_session("a" * 32, T + 2) is False  # already revoked: first time kept
    assert store.session("a" * 32) == StoredSession("alice", T + 30, T + 1)
    assert store.session("b" * 32).revoked is None
    assert store.active_sessions(T) == 1


def test_revoke_everywhere_and_password_change_end_sessions(store):
    store.set_password("alice", "h", T)
    new_session(store, "a" * 32)
    new_session(store, "b" * 32)
    new_session(store, "c" * 32, userid="bob")
    assert store.revoke_user_sessions("alice", T) == 2
    assert store.session("c" * 32).revoked is None
    new_session(store, "d" * 32)
    store.change_password("alice", "h2", T)
    assert store.session("d" * 32).revoked == T


def test_delete_user_removes_sessions(store):
    store.set_password("alice", "h", T)
    new_session(store)
    store.delete_user("alice")
    assert store.session("s" * 32) is None


def test_user_agent_is_capped(store):
    new_session(store)
    with store.db.transaction() as tx:
        assert len(tx.value("SELECT user_agent FROM sessions")) == 256


def test_purge(store):
    new_session(store, "a" * 32, issued=T)
    new_session(store, "b" * 32, issued=T + 100)
    with store.db.transaction(lock=True) as tx:
        store.add_attempt(tx, T, "alice", "10.0.0.1", "wrong")
        store.add_attempt(tx, T + 100, "alice", "10.0.0.1", "wrong")
        store.ban(tx, "user", "alice", T + 50)
    assert store.purge(T + 60, attempts_before=T + 10) == {
        "sessions": 1,
        "bans": 1,
        "attempts": 1,
    }
    assert store.session("a" * 32) is None
    assert store.session("b" * 32) is not None


def test_ping_and_a_store_that_is_gone(store, tmp_path):
    store.ping()
    broken = Store(Database.from_url(f"sqlite:///{tmp_path}/file/under/a-file"))
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open"):
        broken.ping()


def test_writers_from_many_threads(store):
    """Sessions created from 8 threads at once all land (the pool and the locks hold)."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                new_session(store, f"{n:02d}{i:02d}".ljust(32, "x"))
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.active_sessions(T) == 80


def test_a_dead_pooled_connection_is_replaced(postgres_url):
    """The server ended our sessions (a restart, a failover): the next call reconnects."""
    import psycopg

    store = Store.open(postgres_url)
    try:
        new_session(store)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert store.session("s" * 32) is not None
    finally:
        store.close()
