"""User accounts and the CLI (adduser, passwd, deluser, import-users) on both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from auth_service.passwords import Passwords
from auth_service.store import Store
from auth_service.users import Accounts, InvalidUserError, check_userid
from tests.auth_service.test_passwords import old_scrypt
from tests.support import REPO

FAST = {"AUTH_ARGON2_TIME_COST": "1", "AUTH_ARGON2_MEMORY_KIB": "1024"}


@pytest.fixture
def accounts(store):
    passwords = Passwords(time_cost=1, memory_kib=1024, workers=1)
    yield Accounts(store, passwords)
    passwords.close()


def logs_in(accounts: Accounts, userid: str, password: str) -> bool:
    return accounts.passwords.check(password, accounts.store.password_hash(userid)).ok


def test_store_never_holds_plaintext(accounts):
    accounts.set_password("alice", "correct horse")
    encoded = accounts.store.password_hash("alice")
    assert encoded.startswith("$argon2id$")
    assert "correct horse" not in encoded


def test_set_change_delete(accounts):
    assert accounts.set_password("alice", "a") is True
    assert accounts.set_password("alice", "b") is False
    assert logs_in(accounts, "alice", "b")
    accounts.change_password("alice", "c")
    assert logs_in(accounts, "alice", "c")
    with pytest.raises(InvalidUserError, match="no user 'bob'"):
        accounts.change_password("bob", "x")
    accounts.delete("alice")
    with pytest.raises(InvalidUserError, match="no user 'alice'"):
        accounts.delete("alice")


def test_ensure_is_idempotent(accounts):
    assert accounts.ensure("demo", "gatehouse") is True
    before = accounts.store.password_hash("demo")
    assert accounts.ensure("demo", "gatehouse") is False
    assert accounts.store.password_hash("demo") == before
    assert accounts.ensure("demo", "changed") is True
    assert logs_in(accounts, "demo", "changed")


@pytest.mark.parametrize("userid", ["alice", "a", "A.b_c-d@e.org", "0" * 64])
def test_valid_userids(userid):
    assert check_userid(userid) == userid


@pytest.mark.parametrize(
    "userid", ["", "a<b", "a b", "a;b", "a,b", 'a"b', "a=b", "é", "x" * 65, "a\nb"]
)
def test_invalid_userids(accounts, userid):
    with pytest.raises(InvalidUserError, match="invalid user ID"):
        accounts.set_password(userid, "pw")


def test_empty_password_rejected(accounts):
    with pytest.raises(InvalidUserError, match="password"):
        accounts.set_password("alice", "")


def test_import_old_users_file(accounts, tmp_path):
    old = tmp_path / "users.json"
    old.write_text(json.dumps({"alice": old_scrypt("s3cret"), "demo": old_scrypt("x")}))
    accounts.set_password("demo", "newer")
    assert accounts.import_file(old) == (["alice"], ["demo"])
    assert logs_in(accounts, "alice", "s3cret")
    assert logs_in(accounts, "demo", "newer")  # never overwritten by the import


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "not valid JSON"), ("[]", "expected a JSON object"), ('{"a": "md5$x"}', "unknown")],
)
def test_import_bad_file(accounts, tmp_path, content, message):
    (tmp_path / "users.json").write_text(content)
    with pytest.raises(InvalidUserError, match=message):
        accounts.import_file(tmp_path / "users.json")


def cli(store_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auth_service", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "AUTH_DATABASE_URL": store_url, **FAST},
        timeout=60,
    )


def cli_logs_in(store_url: str, userid: str, password: str) -> bool:
    store = Store.open(store_url)
    try:
        return (
            Accounts(store, Passwords(1, 1024, workers=1))
            .passwords.check(password, store.password_hash(userid))
            .ok
        )
    finally:
        store.close()


def test_cli_adduser_passwd_deluser(store_url):
    done = cli(store_url, "adduser", "alice", "--password-stdin", stdin="s3cret\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("added user alice in ")
    assert cli_logs_in(store_url, "alice", "s3cret")  # the newline is not part of it

    done = cli(store_url, "adduser", "alice", "--password-stdin", stdin="two\n")
    assert (done.returncode, done.stdout.split(" in ")[0]) == (0, "changed the password of alice")
    done = cli(store_url, "passwd", "alice", "--password-stdin", stdin="three\n")
    assert done.returncode == 0, done.stderr
    assert cli_logs_in(store_url, "alice", "three")

    done = cli(store_url, "deluser", "alice")
    assert done.returncode == 0, done.stderr
    assert not cli_logs_in(store_url, "alice", "three")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["adduser", "a<b", "--password-stdin"], "pw\n", "invalid user ID"),
        (["adduser", "alice", "--password-stdin"], "\n", "password must not be empty"),
        (["adduser", "alice"], "", "cancelled"),  # no terminal, no input: getpass gives up
        (["passwd", "nobody", "--password-stdin"], "pw\n", "no user 'nobody'"),
        (["deluser", "nobody"], "", "no user 'nobody'"),
    ],
    ids=["bad-id", "empty-password", "no-input", "passwd-unknown", "deluser-unknown"],
)
def test_cli_bad_input(tmp_path, args, stdin, message):
    done = cli(f"sqlite:///{tmp_path / 'auth.db'}", *args, stdin=stdin)
    assert done.returncode == 2
    assert message in done.stderr


def test_cli_import_users(tmp_path, store_url):
    old = tmp_path / "users.json"
    old.write_text(json.dumps({"alice": old_scrypt("s3cret")}))
    done = cli(store_url, "import-users", str(old))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 1 users into ")
    assert cli_logs_in(store_url, "alice", "s3cret")


def test_cli_bad_database_url(tmp_path):
    done = cli("mysql://x", "adduser", "alice", "--password-stdin", stdin="pw\n")
    assert done.returncode == 2
    assert "setting AUTH_DATABASE_URL:" in done.stderr
