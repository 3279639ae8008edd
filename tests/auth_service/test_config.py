"""Settings.from_env: defaults, overrides and one-line errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth_service.config import ConfigError, Settings

BASE = {"SECRET_KEY": "k"}


def test_defaults():
    s = Settings.from_env(BASE)
    assert s.secret_key == "k"
    assert s.session_ttl == 30
    assert s.users_file == Path("var/users.json")
    assert s.bind == "127.0.0.1"
    assert s.port == 8001
    assert (s.demo_userid, s.demo_password) == ("demo", "gatehouse")
    assert s.demo_enabled


def test_overrides():
    s = Settings.from_env(
        {
            **BASE,
            "SESSION_TTL": "5",
            "USERS_FILE": "/tmp/u.json",
            "AUTH_BIND": "0.0.0.0",
            "AUTH_PORT": "9000",
            "DEMO_USERID": "alice@example.org",
            "DEMO_PASSWORD": "pw",
        }
    )
    assert (s.session_ttl, s.users_file, s.bind, s.port) == (
        5,
        Path("/tmp/u.json"),
        "0.0.0.0",
        9000,
    )
    assert (s.demo_userid, s.demo_password) == ("alice@example.org", "pw")


@pytest.mark.parametrize("var", ["DEMO_USERID", "DEMO_PASSWORD"])
def test_empty_demo_setting_disables_demo_user(var):
    assert not Settings.from_env({**BASE, var: ""}).demo_enabled


def test_empty_optional_values_mean_default():
    s = Settings.from_env({**BASE, "SESSION_TTL": "", "AUTH_PORT": " ", "USERS_FILE": ""})
    assert (s.session_ttl, s.port, s.users_file) == (30, 8001, Path("var/users.json"))


def test_secret_key_not_in_repr():
    assert "sekrit" not in repr(Settings.from_env({"SECRET_KEY": "sekrit"}))


def test_settings_are_frozen():
    s = Settings.from_env(BASE)
    with pytest.raises(AttributeError):
        s.session_ttl = 1  # type: ignore[misc]


@pytest.mark.parametrize("env", [{}, {"SECRET_KEY": ""}, {"SECRET_KEY": "   "}])
def test_secret_key_required(env):
    with pytest.raises(ConfigError, match=r"^SECRET_KEY is required"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("SESSION_TTL", "abc"),
        ("SESSION_TTL", "0"),
        ("SESSION_TTL", "-5"),
        ("SESSION_TTL", "1.5"),
        ("AUTH_PORT", "http"),
        ("AUTH_PORT", "0"),
        ("AUTH_PORT", "65536"),
        ("DEMO_USERID", "a<b"),
        ("DEMO_USERID", "x" * 65),
    ],
)
def test_bad_values_name_the_variable(var, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**BASE, var: value})
    message = str(info.value)
    assert message.startswith(var)
    assert "\n" not in message
