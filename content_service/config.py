"""Settings of the content service, read once from the environment.

Every mistake is reported in one style, `setting NAME: what is wrong (got 'value')`,
so `make run` and compose logs say which variable to fix (issue 14, item 6).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The site that ships with the service; used when CONTENT_ROOT is not set.
SHIPPED_SITE = Path(__file__).resolve().parent / "site"

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8002
DEFAULT_MEMORY_MAX = 1024 * 1024  # 1 MiB


DEFAULT_MAX_AGE = 10
DEFAULT_SHUTDOWN_GRACE = 10  # seconds, as the proxy's PROXY_SHUTDOWN_GRACE


class ConfigError(ValueError):
    """A setting is missing or invalid; the message says which and why."""


def _problem(name: str, what: str, raw: str) -> ConfigError:
    return ConfigError(f"setting {name}: {what} (got {raw!r})")


def _int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise _problem(name, "must be a whole number", raw) from None
    if not low <= value <= high:
        raise _problem(name, f"must be between {low} and {high}", raw)
    return value


def _root_setting(env: Mapping[str, str]) -> Path:
    raw = env.get("CONTENT_ROOT", "").strip()
    root = Path(os.path.abspath(raw)) if raw else SHIPPED_SITE
    if not root.exists():
        raise _problem("CONTENT_ROOT", f"directory {str(root)!r} does not exist", raw)
    if not root.is_dir():
        raise _problem("CONTENT_ROOT", f"{str(root)!r} is not a directory", raw)
    return root


def _token_setting(env: Mapping[str, str]) -> bytes | None:
    """The internal token goes into a header field: visible ASCII only (RFC 9110 §5.5).

    The error names the length, never the secret itself.
    """
    raw = env.get("INTERNAL_TOKEN", "").strip()
    if not raw:
        return None
    if not all("!" <= c <= "~" for c in raw):
        raise ConfigError(
            "setting INTERNAL_TOKEN: must be visible ASCII characters without spaces "
            f"(got {len(raw)} characters, not shown)"
        )
    return raw.encode()


@dataclass(frozen=True, slots=True)
class Settings:
    content_root: Path
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    memory_max: int = DEFAULT_MEMORY_MAX
    max_age: int = DEFAULT_MAX_AGE  # seconds a shared cache may reuse a file
    internal_token: bytes | None = None  # None: everyone is let in (warned at start)
    # On SIGTERM, how long responses under way may run on: a download to a client that
    # stopped reading would otherwise hold the process forever.
    shutdown_grace: int = DEFAULT_SHUTDOWN_GRACE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `env`; the only place the environment is read.

        An empty value counts as unset, so `CONTENT_ROOT=` in a compose file
        falls back to the default instead of serving the working directory.
        """
        return cls(
            content_root=_root_setting(env),
            bind=env.get("CONTENT_BIND", "").strip() or DEFAULT_BIND,
            port=_int_setting(env, "CONTENT_PORT", DEFAULT_PORT, 1, 65535),
            memory_max=_int_setting(env, "CONTENT_MEMORY_MAX", DEFAULT_MEMORY_MAX, 0, 1 << 40),
            max_age=_int_setting(env, "CONTENT_MAX_AGE", DEFAULT_MAX_AGE, 0, 365 * 24 * 3600),
            internal_token=_token_setting(env),
            shutdown_grace=_int_setting(
                env, "CONTENT_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE, 0, 3600
            ),
        )
