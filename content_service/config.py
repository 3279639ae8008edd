"""Settings of the content service, read once from the environment."""

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


class ConfigError(ValueError):
    """A setting is missing or invalid; the message says which and why."""


def _int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    content_root: Path
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    memory_max: int = DEFAULT_MEMORY_MAX
    max_age: int = DEFAULT_MAX_AGE  # seconds a shared cache may reuse a file

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `env`; the only place the environment is read.

        An empty value counts as unset, so `CONTENT_ROOT=` in a compose file
        falls back to the default instead of serving the working directory.
        """
        raw_root = env.get("CONTENT_ROOT", "").strip()
        root = Path(raw_root) if raw_root else SHIPPED_SITE
        root = Path(os.path.abspath(root))
        if not root.exists():
            raise ConfigError(f"CONTENT_ROOT {str(root)!r} does not exist")
        if not root.is_dir():
            raise ConfigError(f"CONTENT_ROOT {str(root)!r} is not a directory")
        bind = env.get("CONTENT_BIND", "").strip() or DEFAULT_BIND
        port = _int_setting(env, "CONTENT_PORT", DEFAULT_PORT, 1, 65535)
        memory_max = _int_setting(env, "CONTENT_MEMORY_MAX", DEFAULT_MEMORY_MAX, 0, 1 << 40)
        max_age = _int_setting(env, "CONTENT_MAX_AGE", DEFAULT_MAX_AGE, 0, 365 * 24 * 3600)
        return cls(content_root=root, bind=bind, port=port, memory_max=memory_max, max_age=max_age)
