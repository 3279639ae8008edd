"""Settings of the auth service, read from the environment in one place.

`Settings.from_env` is the only code that looks at environment variables, so the
rest of the service (and its tests) can be handed a plain `Settings` value. Every
error reads `setting NAME: what is wrong (got 'value')`, with secrets masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from auth_service.passwords import ARGON2_PARALLELISM
from auth_service.users import InvalidUserError, check_userid

DEFAULT_SESSION_TTL = 30
DEFAULT_DATABASE_URL = "sqlite:///var/auth.db"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8001
DEFAULT_DEMO_USERID = "demo"
DEFAULT_DEMO_PASSWORD = "gatehouse"
# Authelia's regulation defaults are 3 / 2 min / 5 min; issue 10 asks for 5 retries.
DEFAULT_MAX_RETRIES = 5
DEFAULT_FIND_TIME = 120
DEFAULT_BAN_TIME = 300
# argon2id as OWASP's Password Storage Cheat Sheet sets it: t=2 passes over m=19 MiB, one
# lane (passwords.py says why not RFC 9106's 64 MiB).
DEFAULT_ARGON2_TIME_COST = 2
DEFAULT_ARGON2_MEMORY_KIB = 19 * 1024


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


def problem(name: str, what: str, raw: str) -> ConfigError:
    return ConfigError(f"setting {name}: {what} (got {raw!r})")


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to run; immutable once built."""

    # Newest first: the first one signs, all of them verify. repr=False: keys and
    # tokens must not end up in logs or tracebacks by accident.
    secret_keys: tuple[str, ...] = field(repr=False)
    session_ttl: int = DEFAULT_SESSION_TTL
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)  # may hold a password
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    # Empty demo_userid or demo_password means: do not create a demo user.
    demo_userid: str = DEFAULT_DEMO_USERID
    demo_password: str = field(default=DEFAULT_DEMO_PASSWORD, repr=False)
    internal_token: str = field(default="", repr=False)  # empty: accept every caller
    login_max_retries: int = DEFAULT_MAX_RETRIES  # 0 turns regulation off, as in Authelia
    login_find_time: int = DEFAULT_FIND_TIME
    login_ban_time: int = DEFAULT_BAN_TIME
    # Test-only knobs (AUTH_ARGON2_TIME_COST, AUTH_ARGON2_MEMORY_KIB): the test suite
    # lowers the memory cost to stay fast. Production keeps the defaults.
    argon2_time_cost: int = DEFAULT_ARGON2_TIME_COST
    argon2_memory_kib: int = DEFAULT_ARGON2_MEMORY_KIB

    @property
    def demo_enabled(self) -> bool:
        return bool(self.demo_userid and self.demo_password)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError on bad values."""
        demo_userid = env.get("DEMO_USERID", DEFAULT_DEMO_USERID)
        if demo_userid:
            try:
                check_userid(demo_userid)
            except InvalidUserError:
                raise problem(
                    "DEMO_USERID", "use 1-64 characters from A-Z a-z 0-9 . _ @ -", demo_userid
                ) from None
        argon2_time_cost, argon2_memory_kib = argon2_from_env(env)
        return cls(
            secret_keys=secret_keys_from_env(env),
            session_ttl=_int(env, "SESSION_TTL", DEFAULT_SESSION_TTL, minimum=1),
            database_url=database_url_from_env(env),
            bind=_nonempty(env, "AUTH_BIND", DEFAULT_BIND),
            port=_int(env, "AUTH_PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            demo_userid=demo_userid,
            demo_password=env.get("DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD),
            internal_token=env.get("INTERNAL_TOKEN", "").strip(),
            login_max_retries=_int(env, "LOGIN_MAX_RETRIES", DEFAULT_MAX_RETRIES, minimum=0),
            login_find_time=_int(env, "LOGIN_FIND_TIME", DEFAULT_FIND_TIME, minimum=1),
            login_ban_time=_int(env, "LOGIN_BAN_TIME", DEFAULT_BAN_TIME, minimum=1),
            argon2_time_cost=argon2_time_cost,
            argon2_memory_kib=argon2_memory_kib,
        )


def argon2_from_env(env: Mapping[str, str]) -> tuple[int, int]:
    """(time cost, memory KiB): the CLI hashes with them too, without needing SECRET_KEYS."""
    return (
        _int(env, "AUTH_ARGON2_TIME_COST", DEFAULT_ARGON2_TIME_COST, minimum=1, maximum=100),
        # argon2 needs at least 8 KiB per lane.
        _int(
            env,
            "AUTH_ARGON2_MEMORY_KIB",
            DEFAULT_ARGON2_MEMORY_KIB,
            minimum=8 * ARGON2_PARALLELISM,
            maximum=4 * 1024 * 1024,
        ),
    )


def secret_keys_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """SECRET_KEYS (comma-separated, newest first), else SECRET_KEY as a one-key list."""
    if env.get("SECRET_KEYS", "").strip():
        name, raw = "SECRET_KEYS", env["SECRET_KEYS"]
        keys = tuple(key.strip() for key in raw.split(","))
    else:
        name, raw = "SECRET_KEY", env.get("SECRET_KEY", "")
        keys = (raw.strip(),)
    masked = ",".join("***" if key else "" for key in keys)
    if keys == ("",):
        raise ConfigError(
            "setting SECRET_KEYS: required: set SECRET_KEYS (or SECRET_KEY) to a long random "
            'string, e.g. python -c "import secrets; print(secrets.token_urlsafe(32))" '
            "(got '')"
        )
    if "" in keys:
        raise problem(name, "empty key in the list", masked)
    if len(set(keys)) != len(keys):
        raise problem(name, "the same key is listed twice", masked)
    return keys


_SQLITE = re.compile(r"sqlite:///(?P<path>.+)")


def database_url_from_env(env: Mapping[str, str]) -> str:
    """AUTH_DATABASE_URL alone: the CLI needs it but must not require SECRET_KEYS."""
    raw = _nonempty(env, "AUTH_DATABASE_URL", DEFAULT_DATABASE_URL)
    if raw.startswith(("postgresql://", "postgres://")):
        return raw
    match = _SQLITE.fullmatch(raw)
    if match is None:
        shown = re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", raw)  # never echo a password
        raise problem(
            "AUTH_DATABASE_URL",
            "expected sqlite:///relative/path, sqlite:////absolute/path or postgresql://...",
            shown,
        )
    if match["path"] == ":memory:":
        raise problem("AUTH_DATABASE_URL", "the store must be a file that outlives a request", raw)
    return raw


def _nonempty(env: Mapping[str, str], name: str, default: str) -> str:
    # An empty value counts as unset: compose files often pass `VAR=${VAR:-}`.
    return env.get(name, "").strip() or default


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise problem(name, "must be a whole number", raw) from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise problem(name, f"must be at least {minimum}{upper}", raw)
    return value
