"""Settings of the auth service, read from the environment in one place.

`Settings.from_env` is the only code that looks at environment variables, so the
rest of the service (and its tests) can be handed a plain `Settings` value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auth_service.users import InvalidUserError, check_userid

DEFAULT_SESSION_TTL = 30
DEFAULT_USERS_FILE = "var/users.json"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8001
DEFAULT_DEMO_USERID = "demo"
DEFAULT_DEMO_PASSWORD = "gatehouse"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to run; immutable once built."""

    # repr=False: the key must not end up in logs or tracebacks by accident.
    secret_key: str = field(repr=False)
    session_ttl: int = DEFAULT_SESSION_TTL
    users_file: Path = Path(DEFAULT_USERS_FILE)
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    # Empty demo_userid or demo_password means: do not create a demo user.
    demo_userid: str = DEFAULT_DEMO_USERID
    demo_password: str = field(default=DEFAULT_DEMO_PASSWORD, repr=False)

    @property
    def demo_enabled(self) -> bool:
        return bool(self.demo_userid and self.demo_password)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; raise ConfigError on bad values."""
        secret_key = env.get("SECRET_KEY", "")
        if not secret_key.strip():
            raise ConfigError(
                "SECRET_KEY is required: set it to a long random string "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        demo_userid = env.get("DEMO_USERID", DEFAULT_DEMO_USERID)
        if demo_userid:
            try:
                check_userid(demo_userid)
            except InvalidUserError as exc:
                raise ConfigError(f"DEMO_USERID: {exc}") from None
        return cls(
            secret_key=secret_key,
            session_ttl=_int(env, "SESSION_TTL", DEFAULT_SESSION_TTL, minimum=1),
            users_file=users_file_from_env(env),
            bind=_nonempty(env, "AUTH_BIND", DEFAULT_BIND),
            port=_int(env, "AUTH_PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            demo_userid=demo_userid,
            demo_password=env.get("DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD),
        )


def users_file_from_env(env: Mapping[str, str]) -> Path:
    """USERS_FILE alone: `adduser` needs it but must not require SECRET_KEY."""
    return Path(_nonempty(env, "USERS_FILE", DEFAULT_USERS_FILE))


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
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name} must be at least {minimum}{upper}, got {value}")
    return value
