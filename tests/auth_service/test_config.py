"""Settings.from_env: defaults, overrides and one-line errors naming the variable."""

from __future__ import annotations

import pytest

from auth_service.config import ConfigError, Settings

BASE = {"SECRET_KEY": "k"}


def test_defaults():
    s = Settings.from_env(BASE)
    assert s.secret_keys == ("k",)
    assert s.session_ttl == 30
    assert s.database_url == "sqlite:///var/auth.db"
    assert s.bind == "127.0.0.1"
    assert s.port == 8001
    assert (s.demo_userid, s.demo_password) == ("demo", "gatehouse")
    assert s.demo_enabled
    assert s.internal_token == ""
    assert (s.login_max_retries, s.login_find_time, s.login_ban_time) == (5, 120, 300)
    assert (s.argon2_time_cost, s.argon2_memory_kib) == (2, 19456)


def test_overrides():
    s = Settings.from_env(
        {
            "SECRET_KEYS": "new, old",
            "SECRET_KEY": "ignored when SECRET_KEYS is set",
            "SESSION_TTL": "5",
            "AUTH_DATABASE_URL": "postgresql://u:p@db/auth",
            "AUTH_BIND": "0.0.0.0",
            "AUTH_PORT": "9000",
            "DEMO_USERID": "alice@example.org",
            "DEMO_PASSWORD": "pw",
            "INTERNAL_TOKEN": "t0k",
            "LOGIN_MAX_RETRIES": "0",
            "LOGIN_FIND_TIME": "60",
            "LOGIN_BAN_TIME": "600",
            "AUTH_ARGON2_MEMORY_KIB": "1024",
        }
    )
    assert s.secret_keys == ("new", "old")
    assert (s.session_ttl, s.database_url, s.bind, s.port) == (
        5,
        "postgresql://u:p@db/auth",
        "0.0.0.0",
        9000,
    )
    assert (s.demo_userid, s.demo_password, s.internal_token) == ("alice@example.org", "pw", "t0k")
    assert (s.login_max_retries, s.login_find_time, s.login_ban_time) == (0, 60, 600)
    assert s.argon2_memory_kib == 1024


@pytest.mark.parametrize("var", ["DEMO_USERID", "DEMO_PASSWORD"])
def test_empty_demo_setting_disables_demo_user(var):
    assert not Settings.from_env({**BASE, var: ""}).demo_enabled


def test_empty_optional_values_mean_default():
    s = Settings.from_env({**BASE, "SESSION_TTL": "", "AUTH_PORT": " ", "AUTH_DATABASE_URL": ""})
    assert (s.session_ttl, s.port, s.database_url) == (30, 8001, "sqlite:///var/auth.db")


def test_secrets_not_in_repr():
    s = Settings.from_env(
        {
            "SECRET_KEYS": "sekrit",
            "INTERNAL_TOKEN": "tokn",
            "AUTH_DATABASE_URL": "postgresql://u:pw@h/d",
        }
    )
    assert "sekrit" not in repr(s) and "tokn" not in repr(s) and "pw@" not in repr(s)


def test_settings_are_frozen():
    s = Settings.from_env(BASE)
    with pytest.raises(AttributeError):
        s.session_ttl = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "env", [{}, {"SECRET_KEY": ""}, {"SECRET_KEY": "   "}, {"SECRET_KEYS": " "}]
)
def test_secret_key_required(env):
    with pytest.raises(ConfigError, match=r"^setting SECRET_KEYS: required"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEYS": "a,,b"}, "setting SECRET_KEYS: empty key in the list (got '***,,***')"),
        (
            {"SECRET_KEYS": "a,a"},
            "setting SECRET_KEYS: the same key is listed twice (got '***,***')",
        ),
    ],
)
def test_bad_key_lists_never_show_the_keys(env, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert str(info.value) == message


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
        ("LOGIN_MAX_RETRIES", "-1"),
        ("LOGIN_FIND_TIME", "0"),
        ("LOGIN_BAN_TIME", "soon"),
        ("AUTH_ARGON2_MEMORY_KIB", "7"),
        ("AUTH_ARGON2_TIME_COST", "0"),
        ("AUTH_DATABASE_URL", "mysql://db/auth"),
        ("AUTH_DATABASE_URL", "sqlite://relative.db"),
        ("AUTH_DATABASE_URL", "sqlite:///:memory:"),
    ],
)
def test_bad_values_name_the_variable(var, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**BASE, var: value})
    message = str(info.value)
    assert message.startswith(f"setting {var}: ")
    assert message.endswith(f"(got {value!r})")
    assert "\n" not in message


def test_database_password_is_masked_in_errors():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**BASE, "AUTH_DATABASE_URL": "mysql://user:hunter2@db/auth"})
    assert "hunter2" not in str(info.value)
    assert "(got 'mysql://user:***@db/auth')" in str(info.value)
