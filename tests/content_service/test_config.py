"""Settings: defaults, parsing, and one error style for every mistake (issue 14, item 6)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from content_service.__main__ import listen
from content_service.config import DEFAULT_MEMORY_MAX, SHIPPED_SITE, ConfigError, Settings
from tests.support import REPO


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.content_root == SHIPPED_SITE
    assert s.content_root.is_absolute()
    assert (s.bind, s.port, s.memory_max, s.max_age) == ("127.0.0.1", 8002, DEFAULT_MEMORY_MAX, 10)
    assert s.internal_token is None


def test_from_env(tmp_path: Path) -> None:
    env = {
        "CONTENT_ROOT": str(tmp_path),
        "CONTENT_BIND": "0.0.0.0",
        "CONTENT_PORT": "9000",
        "CONTENT_MEMORY_MAX": "2048",
        "CONTENT_MAX_AGE": "0",
        "INTERNAL_TOKEN": " s3cret-token ",
    }
    s = Settings.from_env(env)
    assert (s.content_root, s.bind, s.port, s.memory_max) == (tmp_path, "0.0.0.0", 9000, 2048)
    assert (s.max_age, s.internal_token) == (0, b"s3cret-token")
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]  # frozen


@pytest.mark.parametrize("name", ["CONTENT_ROOT", "CONTENT_PORT", "INTERNAL_TOKEN"])
def test_empty_means_unset(name: str) -> None:
    assert Settings.from_env({name: " "}) == Settings.from_env({})


def test_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "www").mkdir()
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"CONTENT_ROOT": "www"}).content_root == tmp_path / "www"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param(
            "CONTENT_ROOT",
            "/nonexistent/gatehouse",
            "setting CONTENT_ROOT: directory '/nonexistent/gatehouse' does not exist "
            "(got '/nonexistent/gatehouse')",
            id="root-missing",
        ),
        pytest.param(
            "CONTENT_ROOT",
            __file__,
            f"setting CONTENT_ROOT: {__file__!r} is not a directory (got {__file__!r})",
            id="root-is-a-file",
        ),
        pytest.param(
            "CONTENT_PORT",
            "http",
            "setting CONTENT_PORT: must be a whole number (got 'http')",
            id="port-not-a-number",
        ),
        pytest.param(
            "CONTENT_PORT",
            "70000",
            "setting CONTENT_PORT: must be between 1 and 65535 (got '70000')",
            id="port-out-of-range",
        ),
        pytest.param(
            "CONTENT_PORT",
            "0",
            "setting CONTENT_PORT: must be between 1 and 65535 (got '0')",
            id="port-zero",
        ),
        pytest.param(
            "CONTENT_MEMORY_MAX",
            "1.5",
            "setting CONTENT_MEMORY_MAX: must be a whole number (got '1.5')",
            id="memory-not-a-number",
        ),
        pytest.param(
            "CONTENT_MEMORY_MAX",
            "-1",
            "setting CONTENT_MEMORY_MAX: must be between 0 and 1099511627776 (got '-1')",
            id="memory-negative",
        ),
        pytest.param(
            "CONTENT_MAX_AGE",
            "ten",
            "setting CONTENT_MAX_AGE: must be a whole number (got 'ten')",
            id="max-age-not-a-number",
        ),
        pytest.param(
            "CONTENT_MAX_AGE",
            "-1",
            "setting CONTENT_MAX_AGE: must be between 0 and 31536000 (got '-1')",
            id="max-age-negative",
        ),
        pytest.param(
            "CONTENT_SHUTDOWN_GRACE",
            "5s",
            "setting CONTENT_SHUTDOWN_GRACE: must be a whole number (got '5s')",
            id="shutdown-grace-not-a-number",
        ),
        pytest.param(
            "INTERNAL_TOKEN",
            "two words",
            "setting INTERNAL_TOKEN: must be visible ASCII characters without spaces "
            "(got 9 characters, not shown)",
            id="token-with-space",
        ),
    ],
)
def test_errors(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value) == message


def test_port_in_use_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(content_root=SHIPPED_SITE, port=port)
        with pytest.raises(ConfigError, match=rf"^setting CONTENT_PORT: 127.0.0.1:{port} cannot"):
            listen(settings)


def test_unknown_bind_address_names_the_setting() -> None:
    settings = Settings(content_root=SHIPPED_SITE, bind="no such host.invalid", port=8002)
    with pytest.raises(ConfigError, match=r"^setting CONTENT_BIND: .*\(got 'no such host"):
        listen(settings)


def test_main_exits_2_with_the_message() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "content_service"],
        cwd=REPO,
        env={"CONTENT_PORT": "abc", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr == "content_service: setting CONTENT_PORT: must be a whole number (got 'abc')\n"
    )
