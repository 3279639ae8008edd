"""The regulator on both stores, with a fake clock: runs, bans, resets, concurrency."""

from __future__ import annotations

import pytest

from auth_service.regulation import Regulator

T = 1_700_000_000.0
A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def regulator(store):
    return Regulator(store, max_retries=3, find_time=120, ban_time=300)


def fail(regulator, userid, address, now):
    attempt = regulator.begin(userid, address, now)
    if attempt.banned_until is not None:
        return attempt
    return regulator.finish(attempt, userid, address, False, now)


def succeed(regulator, userid, address, now):
    attempt = regulator.begin(userid, address, now)
    assert attempt.banned_until is None
    return regulator.finish(attempt, userid, address, True, now)


def test_ban_after_max_retries_for_user_and_address(regulator):
    assert fail(regulator, "alice", A, T).new_bans == ()
    assert fail(regulator, "alice", A, T + 1).new_bans == ()
    assert fail(regulator, "alice", A, T + 2).new_bans == ("user", "address")
    refused = regulator.begin("alice", A, T + 3)
    assert refused.banned_until == T + 2 + 300
    # The user id is banned from everywhere, the address for every id.
    assert regulator.begin("alice", B, T + 3).banned_until == T + 302
    assert regulator.begin("bob", A, T + 3).banned_until == T + 302
    assert regulator.begin("bob", B, T + 3).banned_until is None


def test_ban_ends_after_ban_time(regulator):
    for i in range(3):
        fail(regulator, "alice", A, T + i)
    assert regulator.begin("alice", A, T + 301).banned_until is not None
    assert regulator.begin("alice", A, T + 302.5).banned_until is None


def test_success_ends_the_run(regulator):
    for _ in range(5):  # a user who mistypes now and then is never banned
        fail(regulator, "alice", A, T)
        fail(regulator, "alice", A, T)
        succeed(regulator, "alice", A, T)
    assert regulator.begin("alice", A, T).banned_until is None


def test_failures_older_than_find_time_do_not_count(regulator):
    fail(regulator, "alice", A, T)
    fail(regulator, "alice", A, T + 1)
    assert fail(regulator, "alice", A, T + 130).new_bans == ()
    assert fail(regulator, "alice", A, T + 131).new_bans == ()
    assert fail(regulator, "alice", A, T + 132).new_bans == ("user", "address")


def test_unknown_and_known_ids_are_counted_alike(regulator, store):
    store.set_password("alice", "h", T)
    known = [fail(regulator, "alice", A, T).new_bans for _ in range(3)]
    unknown = [fail(regulator, "nobody", B, T).new_bans for _ in range(3)]
    assert known == unknown


def test_a_spray_over_many_ids_bans_the_address(regulator):
    for i in range(3):
        fail(regulator, f"user{i}", A, T)
    assert regulator.begin("someone-else", A, T).banned_until == T + 300


def test_concurrent_guesses_past_the_limit_wait_then_are_banned(regulator):
    """Ten guesses arrive together: only max_retries are let through to the hash."""
    attempts = [regulator.begin("alice", A, T) for _ in range(10)]
    allowed = [a for a in attempts if not a.must_wait]
    assert len(allowed) == 3
    assert all(a.must_wait for a in attempts[3:])
    bans = [regulator.finish(a, "alice", A, False, T).new_bans for a in allowed]
    assert bans == [(), (), ("user", "address")]
    assert regulator.begin("alice", A, T).banned_until == T + 300


def test_concurrent_right_passwords_all_get_in(regulator):
    """Fifty good logins at once (a CI suite): admitted a few at a time, none banned."""
    admitted = 0
    while admitted < 50:
        batch = [regulator.begin("alice", A, T) for _ in range(5)]
        assert all(a.banned_until is None for a in batch)
        for attempt in batch:
            if not attempt.must_wait:
                regulator.finish(attempt, "alice", A, True, T)
                admitted += 1
    assert regulator.begin("alice", A, T).id


def test_after_a_ban_ends_within_find_time_one_more_failure_bans_again(store):
    regulator = Regulator(store, max_retries=3, find_time=600, ban_time=60)
    for _ in range(3):
        fail(regulator, "alice", A, T)
    retry = regulator.begin("alice", A, T + 61)
    assert retry.id  # the ban is over: one more try
    assert regulator.begin("alice", A, T + 61).must_wait  # only one
    settled = regulator.finish(retry, "alice", A, False, T + 62)
    assert settled.new_bans == ("user", "address")


def test_regulation_off(store):
    regulator = Regulator(store, max_retries=0, find_time=120, ban_time=300)
    for _ in range(20):
        assert fail(regulator, "alice", A, T).banned_until is None
