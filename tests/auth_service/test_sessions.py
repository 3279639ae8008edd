"""Signed session ids: sign/unsign, tampering, age with a fake clock, key rotation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth_service.sessions import SessionSigner, Signed, cookie_values, new_session_id

SID = new_session_id()


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> SessionSigner:
    return SessionSigner(["test-key"], 30, now=clock)


def test_sign_and_unsign(signer, clock):
    value = signer.sign(SID)
    assert value.startswith(f"{SID}.")
    assert signer.unsign(value) == Signed(SID, int(clock.t), 30)


def test_issue_returns_the_signed_timestamp(signer, clock):
    clock.t += 0.999
    value, issued = signer.issue(SID)
    assert issued == int(clock.t)
    assert signer.unsign(value) == Signed(SID, issued, 30)


def test_seconds_left_counts_down(signer, clock):
    value = signer.sign(SID)
    clock.t += 12.7
    assert signer.unsign(value).seconds_left == 18
    clock.t += 17  # 29.7 s after issue: one (partial) second left
    assert signer.unsign(value).seconds_left == 1


def test_expired_is_refused(signer, clock):
    value = signer.sign(SID)
    clock.t += 30  # exactly the TTL: never honoured past Max-Age
    assert signer.unsign(value) == "expired"
    clock.t += 3600
    assert signer.unsign(value) == "expired"


def test_future_timestamp_is_refused(signer, clock):
    value = signer.sign(SID)
    clock.t -= 10
    assert signer.unsign(value) == "invalid"


def test_other_key_is_refused(clock):
    value = SessionSigner(["other-key"], 30, now=clock).sign(SID)
    assert SessionSigner(["test-key"], 30, now=clock).unsign(value) == "invalid"


def test_rotation_listed_older_key_passes_retired_key_is_refused(clock):
    """SECRET_KEYS=new,old: cookies signed with old still pass; new ones use new."""
    old_cookie = SessionSigner(["old"], 30, now=clock).sign(SID)
    rotated = SessionSigner(["new", "old"], 30, now=clock)
    assert isinstance(rotated.unsign(old_cookie), Signed)
    fresh = rotated.sign(SID)
    assert isinstance(SessionSigner(["new"], 30, now=clock).unsign(fresh), Signed)
    assert SessionSigner(["old"], 30, now=clock).unsign(fresh) == "invalid"
    retired = SessionSigner(["newer", "new"], 30, now=clock)  # "old" dropped from the list
    assert retired.unsign(old_cookie) == "invalid"
    assert isinstance(retired.unsign(fresh), Signed)


@pytest.mark.parametrize(
    "value", ["", "alice", "alice.x", "alice.x.y", "...", "é.é.é", "a" * 32 + ".x.y"]
)
def test_garbage_is_invalid(signer, value):
    assert signer.unsign(value) == "invalid"


def test_a_signed_value_that_is_no_session_id_is_invalid(signer):
    assert signer.unsign(signer.sign("alice")) == "invalid"


@given(position=st.integers(min_value=0), replacement=st.sampled_from("A-_.x0"))
def test_any_single_change_is_refused(position, replacement):
    signer = SessionSigner(["test-key"], 30, now=Clock())
    value = signer.sign(SID)
    # Not the last character: base64 ignores its low padding bits, so some edits
    # there decode to the very same signature bytes (harmless, but not "tampered").
    i = position % (len(value) - 1)
    tampered = value[:i] + replacement + value[i + 1 :]
    if tampered != value:
        assert signer.unsign(tampered) == "invalid"


def test_ttl_and_keys_must_be_given():
    with pytest.raises(ValueError):
        SessionSigner(["k"], 0)
    with pytest.raises(ValueError):
        SessionSigner([], 30)


def test_session_ids_are_random_and_well_formed():
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 for i in ids)


def test_cookie_values():
    assert cookie_values(["a=1; session=x.y.z; b=2"]) == ["x.y.z"]
    assert cookie_values(["session=one", "other=1; session=two"]) == ["one", "two"]
    assert cookie_values(["sessionx=1; xsession=2; session"]) == []
    assert cookie_values([]) == []
    assert cookie_values(["__Host-session=a; session=b"], "__Host-session") == ["a"]


def test_cookie_values_stops_after_two():
    """280 stuffed values: only the first two are ever looked at."""
    header = "; ".join(f"session=v{i}" for i in range(280))
    assert cookie_values([header]) == ["v0", "v1"]
