"""The container setup: docker-compose.yml, the three Dockerfiles, .dockerignore, .env.example.

There is no Docker engine on the test machines, so this checks what can be checked without
one: `docker-compose config` validates the compose file, and the checks below read the
configuration as docker-compose itself resolves it (so they see the same thing `up` would).
The real thing is run by hand with /work/shared/compose-sandbox.sh (see the README).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DUMMY_SECRET = "dummy-secret-for-docker-compose-config"
BASE_IMAGE = "python:3.11-slim"
PUBLISHED_PORT = 10080
# service name in the compose file -> the package its image runs
PACKAGES = {"proxy": "proxy", "auth": "auth_service", "content": "content_service"}
# What a service's environment must say so the services find each other.
WIRING = {
    "proxy": {"PROXY_HOST": "0.0.0.0", "AUTH_HOST": "auth", "CONTENT_HOST": "content"},
    "auth": {"AUTH_BIND": "0.0.0.0"},
    "content": {"CONTENT_BIND": "0.0.0.0"},
}

# Run by Compose v1's own interpreter: YAML on stdin, JSON on stdout.
_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


# --- running docker-compose ------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_exe() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (`make test` installs Debian's package)")
    return exe


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stands in for .env, so a developer's own .env cannot change what the tests see."""
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


def compose(
    exe: str, env_file: Path, *args: str, secret: str | None = DUMMY_SECRET
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    env.pop("SECRET_KEY", None)
    if secret is not None:
        env["SECRET_KEY"] = secret
    return subprocess.run(
        [exe, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _interpreter(exe: str) -> str | None:
    """The Python that runs a script-style docker-compose (v1), from its #! line."""
    with open(exe, "rb") as f:
        first = f.readline(200)
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    if words and Path(words[0]).name == "env":
        words = words[1:]
    return words[0] if words and "python" in Path(words[0]).name else None


@pytest.fixture(scope="module")
def config(compose_exe: str, empty_env_file: Path) -> dict[str, Any]:
    """The compose file as docker-compose resolves it (defaults filled in, paths absolute)."""
    # Compose v2 prints JSON itself (v1 prints its usage instead, and exits 0).
    result = compose(compose_exe, empty_env_file, "config", "--format", "json")
    if result.returncode == 0 and result.stdout.lstrip().startswith("{"):
        return json.loads(result.stdout)
    # Compose v1 (Debian bookworm's 1.29) only prints YAML, but it is a Python program
    # built on PyYAML, so its own interpreter can turn that into JSON.
    result = compose(compose_exe, empty_env_file, "config")
    assert result.returncode == 0, result.stderr
    python = _interpreter(compose_exe)
    if python is None:
        pytest.fail(
            f"{compose_exe} neither prints JSON (`config --format json`, Compose v2) nor is "
            "a Python script (Compose v1): cannot read its configuration"
        )
    converted = subprocess.run(
        [python, "-c", _TO_JSON], input=result.stdout, capture_output=True, text=True, timeout=30
    )
    assert converted.returncode == 0, converted.stderr
    return json.loads(converted.stdout)


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["services"]


# --- reading Dockerfiles ---------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, f"{path}: ends in a continuation line"
    return instructions


def args_of(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for kw, args in instructions if kw == keyword]


def healthcheck_code(args: str) -> str:
    """The `python -c` code of a HEALTHCHECK's command (exec or shell form)."""
    _options, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    command = command.strip()
    words = json.loads(command) if command.startswith("[") else shlex.split(command)
    assert words[:2] == ["python", "-c"], f"healthcheck should run python -c: {words}"
    return words[2]


def dockerfile_of(service: dict[str, Any]) -> Path:
    build = service["build"]
    return Path(build["context"]) / build.get("dockerfile", "Dockerfile")


# --- the compose file ------------------------------------------------------------------


def test_compose_config_is_valid(compose_exe, empty_env_file):
    result = compose(compose_exe, empty_env_file, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_secret_key_is_required(compose_exe, empty_env_file):
    result = compose(compose_exe, empty_env_file, "config", "-q", secret=None)
    assert result.returncode != 0, "the stack must not start without a SECRET_KEY"
    assert "SECRET_KEY" in result.stderr + result.stdout


def test_env_example_does_not_ship_a_usable_secret_key(compose_exe):
    # A copied .env.example must not run the stack with a publicly known signing key.
    assert "\nSECRET_KEY=\n" in ENV_EXAMPLE.read_text()
    result = compose(compose_exe, ENV_EXAMPLE, "config", "-q", secret=None)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr + result.stdout


def test_the_three_services(services):
    assert set(services) == set(PACKAGES)


def test_every_referenced_path_exists(services):
    for name, svc in services.items():
        build = svc.get("build")
        assert isinstance(build, dict), f"{name}: builds from the repository, not a pulled image"
        context = Path(build["context"])
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        assert context.resolve() == REPO, f"{name}: the build context should be the repo root"
        dockerfile = dockerfile_of(svc)
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        for source in svc.get("env_file") or []:
            assert Path(source).is_file(), f"{name}: env_file {source} does not exist"
        for volume in svc.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']} missing"
            elif isinstance(volume, str) and volume.startswith(("/", ".", "~")):
                source = Path(volume.split(":", 1)[0]).expanduser()
                assert source.exists(), f"{name}: {source} missing"
        # Everything the Dockerfile copies in must be in the build context.
        for args in args_of(dockerfile_instructions(dockerfile), "COPY"):
            *sources, _dest = [w for w in args.split() if not w.startswith("--")]
            for source in sources:
                assert (context / source).exists(), f"{dockerfile}: COPY {source}: missing"


def _published(port: Any) -> tuple[int, int]:
    """(published, target) from a port entry in either Compose version's normal form."""
    if isinstance(port, dict):
        return int(port["published"]), int(port["target"])
    host, _, target = str(port).rpartition(":")
    return int(host.rpartition(":")[2]), int(target.split("/")[0])


def test_only_the_proxy_publishes_a_port(services):
    assert [_published(p) for p in services["proxy"].get("ports", [])] == [
        (PUBLISHED_PORT, PUBLISHED_PORT)
    ]
    for name in ("auth", "content"):
        assert not services[name].get("ports"), f"{name} must only be reachable inside"


def test_services_find_each_other(services):
    for name, expected in WIRING.items():
        env = services[name].get("environment") or {}
        for key, value in expected.items():
            assert env.get(key) == value, f"{name}: {key} should be {value!r}"
    proxy_env = services["proxy"]["environment"]
    assert proxy_env.get("AUTH_PORT", "8001") == services["auth"]["environment"].get(
        "AUTH_PORT", "8001"
    )
    assert proxy_env.get("CONTENT_PORT", "8002") == services["content"]["environment"].get(
        "CONTENT_PORT", "8002"
    )
    assert proxy_env.get("PROXY_PORT", str(PUBLISHED_PORT)) == str(PUBLISHED_PORT)


def test_proxy_waits_for_healthy_upstreams(services):
    depends = services["proxy"].get("depends_on")
    assert isinstance(depends, dict), "depends_on needs the long form to carry a condition"
    for name in ("auth", "content"):
        assert depends.get(name, {}).get("condition") == "service_healthy", name


def test_every_service_restarts(services):
    for name, svc in services.items():
        assert svc.get("restart") == "unless-stopped", name


def test_auth_settings_come_from_the_environment(services):
    env = services["auth"]["environment"]
    assert env["SECRET_KEY"] == DUMMY_SECRET
    # The defaults documented for `make run`.
    assert env.get("DEMO_USERID") == "demo"
    assert env.get("DEMO_PASSWORD") == "gatehouse"
    assert env.get("SESSION_TTL") == "30"


def test_users_file_lives_on_a_named_volume(config, services):
    auth = services["auth"]
    users_file = Path(auth["environment"]["USERS_FILE"])
    mounts = {}
    for volume in auth.get("volumes") or []:
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume.get("source")
        else:
            source, target = volume.split(":")[:2]
            mounts[target] = source
    assert str(users_file.parent) in mounts, f"{users_file} is not on a volume: {mounts}"
    assert mounts[str(users_file.parent)] in (config.get("volumes") or {})


def test_every_service_has_a_healthcheck(services):
    for name, svc in services.items():
        in_compose = bool((svc.get("healthcheck") or {}).get("test"))
        in_image = bool(args_of(dockerfile_instructions(dockerfile_of(svc)), "HEALTHCHECK"))
        assert in_compose or in_image, f"{name}: no healthcheck"


def test_compose_healthchecks_match_the_dockerfiles(services):
    """Where a check is written twice, both copies run the same code."""
    for name, svc in services.items():
        test = (svc.get("healthcheck") or {}).get("test")
        image = args_of(dockerfile_instructions(dockerfile_of(svc)), "HEALTHCHECK")
        if not test or not image:
            continue
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: {test}"
        assert test[3] == healthcheck_code(image[-1]), f"{name}: healthchecks differ"


# --- the Dockerfiles -------------------------------------------------------------------


@pytest.mark.parametrize("package", sorted(PACKAGES.values()))
def test_dockerfile(package):
    instructions = dockerfile_instructions(REPO / package / "Dockerfile")
    assert args_of(instructions, "FROM") == [BASE_IMAGE]
    users = args_of(instructions, "USER")
    assert users, "the service must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    # USER comes after the last RUN, so only the build steps run as root.
    keywords = [kw for kw, _ in instructions]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "RUN" not in keywords[last_user:], "RUN after USER"
    assert args_of(instructions, "HEALTHCHECK"), "no HEALTHCHECK"
    runs = " ".join(args_of(instructions, "RUN"))
    assert re.search(r"pip install --no-cache-dir -r requirements\.txt", runs), runs
    copied = set()
    for args in args_of(instructions, "COPY"):
        copied.update(w.rstrip("/") for w in args.split()[:-1] if not w.startswith("--"))
    assert copied == {"requirements.txt", package}, f"copies only its own package: {copied}"
    assert [json.loads(cmd) for cmd in args_of(instructions, "CMD")] == [["python", "-m", package]]


def test_dockerignore_keeps_secrets_out_of_the_build_context():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Either an allow-list (ignore everything, re-include what the images copy) ...
    if patterns[0] == "*":
        reincluded = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
        assert reincluded >= {"requirements.txt", *PACKAGES.values()}
        assert not any(p in reincluded for p in (".env", "var", ".git"))
    # ... or a deny-list that names the secrets.
    else:
        assert {".env", "var", ".git"} <= {p.strip("/") for p in patterns}
