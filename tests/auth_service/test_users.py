"""The user store: scrypt hashes, verification, atomic writes, id rules, adduser CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from auth_service import users as users_mod
from auth_service.users import (
    InvalidUserError,
    UserStore,
    UserStoreError,
    check_userid,
    hash_password,
    verify_password,
)
from tests.support import REPO


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path / "sub" / "users.json")


def test_hash_format_and_salt():
    a, b = hash_password("hunter2"), hash_password("hunter2")
    assert a != b  # fresh salt every time
    scheme, n, r, p, salt, digest = a.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert salt and digest
    assert "hunter2" not in a


def test_verify_password():
    encoded = hash_password("pässword")
    assert verify_password("pässword", encoded)
    assert not verify_password("password", encoded)
    assert not verify_password("", encoded)


@pytest.mark.parametrize(
    "encoded", ["", "plain", "md5$1$2$3$x$y", "scrypt$3$8$1$AAAA$AAAA", "scrypt$16384$8$1$!!$AA"]
)
def test_malformed_hash_never_verifies(encoded):
    assert not verify_password("x", encoded)


def test_store_never_holds_plaintext(store):
    store.set_password("alice", "correct horse")
    text = store.path.read_text()
    assert "correct horse" not in text
    assert json.loads(text)["alice"].startswith("scrypt$")


def test_verify_right_wrong_unknown(store):
    store.set_password("alice", "s3cret")
    assert store.verify("alice", "s3cret")
    assert not store.verify("alice", "S3cret")
    assert not store.verify("bob", "s3cret")
    assert not store.verify("a<b", "s3cret")  # invalid id: just False


def test_unknown_user_still_runs_scrypt(store):
    """Unknown ids cost a hash check too, so timing does not reveal which exist."""
    store.set_password("alice", "s3cret")
    with mock.patch.object(users_mod, "verify_password", wraps=verify_password) as spy:
        assert not store.verify("nobody", "s3cret")
    spy.assert_called_once()


def test_compare_digest_is_used(store):
    store.set_password("alice", "s3cret")
    with mock.patch.object(
        users_mod.hmac, "compare_digest", wraps=users_mod.hmac.compare_digest
    ) as spy:
        store.verify("alice", "nope")
    spy.assert_called_once()


def test_missing_file_is_empty_store(store):
    assert store.load() == {}
    assert not store.verify("alice", "x")


def test_write_creates_dir_mode_0600_and_no_temp_left(store):
    assert store.set_password("alice", "a") is True
    assert store.set_password("alice", "b") is False  # update, not new
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    leftovers = [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert store.verify("alice", "b")


def test_write_goes_through_os_replace(store):
    store.set_password("alice", "a")
    before = store.path.read_text()
    with (
        mock.patch.object(users_mod.os, "replace", side_effect=OSError("disk full")),
        pytest.raises(OSError, match="disk full"),
    ):
        store.set_password("bob", "b")
    # The old file is untouched and the temp file was cleaned up.
    assert store.path.read_text() == before
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_ensure_user_is_idempotent(store):
    assert store.ensure_user("demo", "gatehouse") is True
    mtime = store.path.stat().st_mtime_ns
    text = store.path.read_text()
    assert store.ensure_user("demo", "gatehouse") is False
    assert store.path.read_text() == text
    assert store.path.stat().st_mtime_ns == mtime
    assert store.ensure_user("demo", "changed") is True
    assert store.verify("demo", "changed")


@pytest.mark.parametrize("userid", ["alice", "a", "A.b_c-d@e.org", "0" * 64])
def test_valid_userids(userid):
    assert check_userid(userid) == userid


@pytest.mark.parametrize(
    "userid", ["", "a<b", "a b", "a;b", "a,b", 'a"b', "a=b", "é", "x" * 65, "a\nb"]
)
def test_invalid_userids(store, userid):
    with pytest.raises(InvalidUserError, match="invalid user ID"):
        check_userid(userid)
    with pytest.raises(InvalidUserError):
        store.set_password(userid, "pw")


def test_empty_password_rejected(store):
    with pytest.raises(InvalidUserError, match="password"):
        store.set_password("alice", "")


@pytest.mark.parametrize("content", ["{", "[]", '{"a": 1}'])
def test_corrupt_file_is_a_clear_error(store, content):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(content)
    with pytest.raises(UserStoreError, match=str(store.path)):
        store.load()


def _adduser(*args: str, stdin: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "auth_service", "adduser", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=30,
    )


def test_cli_adduser_password_stdin(tmp_path):
    users_file = tmp_path / "var" / "users.json"
    done = _adduser(
        "alice", "--password-stdin", stdin="s3cret\n", env={"USERS_FILE": str(users_file)}
    )
    assert done.returncode == 0, done.stderr
    assert "alice" in done.stdout
    assert UserStore(users_file).verify("alice", "s3cret")  # newline not part of it
    # A second run changes the password.
    done = _adduser("alice", "--password-stdin", "--users-file", str(users_file), stdin="new\n")
    assert done.returncode == 0, done.stderr
    assert UserStore(users_file).verify("alice", "new")


@pytest.mark.parametrize(
    ("userid", "stdin", "message"),
    [("a<b", "pw\n", "invalid user ID"), ("alice", "\n", "password must not be empty")],
)
def test_cli_adduser_bad_input(tmp_path, userid, stdin, message):
    users_file = tmp_path / "users.json"
    done = _adduser(userid, "--password-stdin", "--users-file", str(users_file), stdin=stdin)
    assert done.returncode != 0
    assert message in done.stderr
    assert not users_file.exists()
