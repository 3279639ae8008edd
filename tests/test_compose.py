"""The container setup: Dockerfile, docker-compose.yml (+ .ha.yml), .dockerignore, .env.example.

There is no Docker engine on the test machines, so this checks what can be checked without
one: `docker-compose config` validates the compose files, and the checks below read the
configuration as docker-compose itself resolves it (so they see the same thing `up` would).
`make test-compose` (tests/compose_e2e.py) runs the stack for real with podman.
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

from proxy import compiled
from tests.support import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
HA_FILE = REPO / "docker-compose.ha.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
BASE_IMAGE = "python:3.11-slim"
# The variables compose refuses to start without (and that .env.example leaves empty).
SECRETS = {"SECRET_KEYS": "dummy-key-for-config", "INTERNAL_TOKEN": "dummy-token-for-config"}
HA_SECRETS = {**SECRETS, "POSTGRES_PASSWORD": "dummy-password-for-config"}
# service name in the compose file (= its Dockerfile target) -> the package its image runs
PACKAGES = {"proxy": "proxy", "auth": "auth_service", "content": "content_service"}
# Where each service listens in its image, and the health endpoint's port.
PORTS = {"proxy": 10080, "auth": 8001, "content": 8002}
HEALTH_PORT_VARIABLE = {"proxy": "PROXY_ADMIN_PORT", "auth": "AUTH_PORT", "content": "CONTENT_PORT"}

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
    exe: str, env_file: Path, *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,), **env: str
) -> subprocess.CompletedProcess[str]:
    """docker-compose with exactly the given variables (and none of the caller's)."""
    referenced = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text() + HA_FILE.read_text()))
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMPOSE_", "DOCKER_")) and k not in referenced
    }
    file_args = [a for f in files for a in ("-f", str(f))]
    return subprocess.run(
        [exe, "--env-file", str(env_file), *file_args, *args],
        cwd=REPO,
        env={**clean, **env},
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


def resolved(exe: str, env_file: Path, files: tuple[Path, ...], **env: str) -> dict[str, Any]:
    """The compose files as docker-compose resolves them (defaults filled in, paths absolute)."""
    python = _interpreter(exe)
    if python is None:  # Compose v2 prints JSON itself
        result = compose(exe, env_file, "config", "--format", "json", files=files, **env)
        assert result.returncode == 0 and result.stdout.lstrip().startswith("{"), result.stderr
        return json.loads(result.stdout)
    # Compose v1 (Debian bookworm's 1.29) only prints YAML, but it is a Python program
    # built on PyYAML, so its own interpreter can turn that into JSON.
    result = compose(exe, env_file, "config", files=files, **env)
    assert result.returncode == 0, result.stderr
    converted = subprocess.run(
        [python, "-c", _TO_JSON], input=result.stdout, capture_output=True, text=True, timeout=30
    )
    assert converted.returncode == 0, converted.stderr
    return json.loads(converted.stdout)


@pytest.fixture(scope="module")
def config(compose_exe: str, empty_env_file: Path) -> dict[str, Any]:
    return resolved(compose_exe, empty_env_file, (COMPOSE_FILE,), **SECRETS)


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["services"]


@pytest.fixture(scope="module")
def ha_services(compose_exe: str, empty_env_file: Path) -> dict[str, dict[str, Any]]:
    return resolved(compose_exe, empty_env_file, (COMPOSE_FILE, HA_FILE), **HA_SECRETS)["services"]


# --- reading the Dockerfile ------------------------------------------------------------


def dockerfile_stages(path: Path = DOCKERFILE) -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its (INSTRUCTION, arguments) pairs, the FROM line first.

    Comments are dropped and continuation lines joined.
    """
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
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
        if keyword.upper() == "FROM":
            _image, as_, name = args.split()
            assert as_.upper() == "AS", f"every stage is named: FROM {args}"
            current = stages[name] = []
        current.append((keyword.upper(), args.strip()))
    assert not pending, f"{path}: ends in a continuation line"
    return stages


def args_of(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for kw, args in instructions if kw == keyword]


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in args_of(instructions, "ENV"):
        env.update(word.split("=", 1) for word in shlex.split(args))
    return env


def healthcheck_code(args: str) -> str:
    """The `python -c` code of a HEALTHCHECK's command (exec or shell form)."""
    _options, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    command = command.strip()
    words = json.loads(command) if command.startswith("[") else shlex.split(command)
    assert words[:2] == ["python", "-c"], f"healthcheck should run python -c: {words}"
    return words[2]


# --- the compose files -----------------------------------------------------------------


def test_compose_files_are_valid(compose_exe, empty_env_file):
    assert compose(compose_exe, empty_env_file, "config", "-q", **SECRETS).returncode == 0
    ha = compose(
        compose_exe, empty_env_file, "config", "-q", files=(COMPOSE_FILE, HA_FILE), **HA_SECRETS
    )
    assert ha.returncode == 0, ha.stderr


@pytest.mark.parametrize("missing", sorted(HA_SECRETS))
def test_secrets_are_required(compose_exe, empty_env_file, missing):
    env = {k: v for k, v in HA_SECRETS.items() if k != missing}
    files = (COMPOSE_FILE, HA_FILE) if missing == "POSTGRES_PASSWORD" else (COMPOSE_FILE,)
    result = compose(compose_exe, empty_env_file, "config", "-q", files=files, **env)
    assert result.returncode != 0, f"the stack must not start without {missing}"
    assert missing in result.stderr + result.stdout


def test_env_example_ships_no_usable_secret(compose_exe):
    # A copied .env.example must not run the stack with publicly known keys or passwords.
    text = ENV_EXAMPLE.read_text()
    for name in (*HA_SECRETS, "DEMO_PASSWORD"):
        assert re.search(rf"^{name}=$", text, re.MULTILINE), f"{name} should be empty"
    assert "secrets.token_urlsafe" in text, "say how to generate them"
    assert "--password-stdin" in text, "say how to add a user instead of the demo account"
    result = compose(compose_exe, ENV_EXAMPLE, "config", "-q")
    assert result.returncode != 0


def test_the_three_services_build_their_target(services):
    assert set(services) == set(PACKAGES)
    stages = dockerfile_stages()
    for name, svc in services.items():
        build = svc.get("build")
        assert isinstance(build, dict), f"{name}: builds from the repository, not a pulled image"
        assert Path(build["context"]).resolve() == REPO, f"{name}: context is the repo root"
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
        assert build.get("target") == name and name in stages, f"{name}: target {build}"


def _ports(svc: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, published, target) from either Compose version's normal form."""
    out = []
    for port in svc.get("ports") or []:
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
        else:
            host, published, target = str(port).rsplit(":", 2)
            out.append((host, int(published), int(target.split("/")[0])))
    return out


def test_the_proxy_publishes_on_loopback_by_default(services):
    assert sorted(_ports(services["proxy"])) == [
        ("127.0.0.1", 10080, 10080),
        ("127.0.0.1", 10081, 10081),
    ]


def test_proxy_bind_moves_only_the_public_port(compose_exe, empty_env_file):
    svc = resolved(compose_exe, empty_env_file, (COMPOSE_FILE,), PROXY_BIND="0.0.0.0", **SECRETS)
    assert sorted(_ports(svc["services"]["proxy"])) == [
        ("0.0.0.0", 10080, 10080),
        ("127.0.0.1", 10081, 10081),  # the admin listener never leaves the machine
    ]


def test_the_published_port_numbers_can_move(compose_exe, empty_env_file):
    moved = {"PROXY_PUBLISH_PORT": "20080", "PROXY_ADMIN_PUBLISH_PORT": "20081"}
    svc = resolved(compose_exe, empty_env_file, (COMPOSE_FILE,), **moved, **SECRETS)
    assert sorted(_ports(svc["services"]["proxy"])) == [
        ("127.0.0.1", 20080, 10080),
        ("127.0.0.1", 20081, 10081),
    ]


def test_services_can_scale(services, ha_services):
    # A fixed container name or host port would make `--scale` fail on the second replica.
    for name, svc in {**services, **ha_services}.items():
        assert "container_name" not in svc, name
        if name != "proxy":
            assert not svc.get("ports"), f"{name} must only be reachable inside"


def test_the_proxy_finds_every_replica_by_service_name(services):
    env = services["proxy"]["environment"]
    assert env["AUTH_UPSTREAMS"] == f"auth:{PORTS['auth']}"
    assert env["CONTENT_UPSTREAMS"] == f"content:{PORTS['content']}"
    # ... where the images listen, on every interface of their container.
    stages = dockerfile_stages()
    for name, prefix in (("proxy", "PROXY"), ("auth", "AUTH"), ("content", "CONTENT")):
        image_env = env_of(stages[name])
        bind = image_env.get(f"{prefix}_BIND", image_env.get(f"{prefix}_HOST"))
        assert bind == "0.0.0.0", name
        assert image_env[f"{prefix}_PORT"] == str(PORTS[name]), name
    assert env_of(stages["proxy"])["PROXY_ADMIN_HOST"] == "0.0.0.0"


def test_every_service_gets_the_internal_token(services):
    for name, svc in services.items():
        assert svc["environment"]["INTERNAL_TOKEN"] == SECRETS["INTERNAL_TOKEN"], name
    assert services["auth"]["environment"]["SECRET_KEYS"] == SECRETS["SECRET_KEYS"]


def test_proxy_waits_for_healthy_upstreams(services):
    depends = services["proxy"].get("depends_on")
    assert isinstance(depends, dict), "depends_on needs the long form to carry a condition"
    for name in ("auth", "content"):
        assert depends.get(name, {}).get("condition") == "service_healthy", name


def test_every_service_restarts(ha_services):
    for name, svc in ha_services.items():
        assert svc.get("restart") == "unless-stopped", name


def test_our_services_run_read_only_without_capabilities(services):
    for name, svc in services.items():
        assert svc.get("read_only") is True, name
        assert any(str(t).startswith("/tmp") for t in svc.get("tmpfs") or []), name
        assert svc.get("cap_drop") == ["ALL"], name


def _mounts(svc: dict[str, Any]) -> dict[str, str]:
    mounts = {}
    for volume in svc.get("volumes") or []:
        if isinstance(volume, dict):
            mounts[volume["target"]] = volume.get("source")
        else:
            source, target = volume.split(":")[:2]
            mounts[target] = source
    return mounts


def test_auth_keeps_its_sqlite_store_on_a_named_volume(config, services):
    auth = services["auth"]
    url = auth["environment"]["AUTH_DATABASE_URL"]
    assert url.startswith("sqlite:///"), url
    store = Path(url.removeprefix("sqlite:///"))
    assert store.is_absolute(), url
    mounts = _mounts(auth)
    assert str(store.parent) in mounts, f"{store} is not on a volume: {mounts}"
    assert mounts[str(store.parent)] in (config.get("volumes") or {})


def test_no_demo_account_by_default(services):
    # A well-known password on a published port is an open door.
    assert services["auth"]["environment"].get("DEMO_PASSWORD", "") == ""
    assert env_of(dockerfile_stages()["auth"]).get("DEMO_PASSWORD") == ""


def test_ha_runs_two_auth_replicas_on_postgresql(ha_services):
    auth, postgres = ha_services["auth"], ha_services["postgres"]
    assert auth["deploy"]["replicas"] == 2
    url = auth["environment"]["AUTH_DATABASE_URL"]
    assert re.fullmatch(r"postgresql://gatehouse:[^@]+@postgres:5432/gatehouse", url), url
    assert auth["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert postgres["environment"]["POSTGRES_PASSWORD"] == HA_SECRETS["POSTGRES_PASSWORD"]
    assert "/var/lib/postgresql/data" in _mounts(postgres)
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


def test_compose_healthchecks_are_the_dockerfiles(services):
    """Each check is written twice (OCI-format images drop HEALTHCHECK): the same code."""
    stages = dockerfile_stages()
    for name, svc in services.items():
        test = svc["healthcheck"]["test"]
        image = args_of(stages[name], "HEALTHCHECK")
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: {test}"
        assert [test[3]] == [healthcheck_code(args) for args in image], f"{name}: differ"
        assert "/healthz" in test[3] and HEALTH_PORT_VARIABLE[name] in test[3], name


# --- the Dockerfile --------------------------------------------------------------------


def test_dockerfile_base_stage():
    base = dockerfile_stages()["base"]
    assert base[0] == ("FROM", f"{BASE_IMAGE} AS base")
    keywords = [kw for kw, _ in base]
    assert keywords.count("RUN") == 1, "one RUN layer for the dependencies and the user"
    (run,) = args_of(base, "RUN")
    assert re.search(r"pip install --no-cache-dir -r requirements\.txt", run), run
    assert [a.split()[0] for a in args_of(base, "COPY")] == ["requirements.txt"]
    # A numeric, non-root USER after the last RUN, so only the build steps run as root
    # (and Kubernetes' runAsNonRoot can check it).
    (user,) = args_of(base, "USER")
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0", user
    assert keywords.index("USER") > keywords.index("RUN")


@pytest.mark.parametrize("target", sorted(PACKAGES))
def test_dockerfile_target(target):
    stage = dockerfile_stages()[target]
    package = PACKAGES[target]
    assert stage[0] == ("FROM", f"base AS {target}")
    keywords = [kw for kw, _ in stage]
    assert "RUN" not in keywords and "USER" not in keywords, "runs as the base's user"
    from_context = [a for a in args_of(stage, "COPY") if not a.startswith("--from=")]
    assert [a.split()[0].rstrip("/") for a in from_context] == [package]
    assert args_of(stage, "HEALTHCHECK"), "no HEALTHCHECK"
    assert [json.loads(cmd) for cmd in args_of(stage, "CMD")] == [["python", "-m", package]]


def test_the_proxy_image_runs_compiled_modules():
    """A builder stage compiles them (proxy/compiled.py) for the proxy image, which gets
    only the result: the Python they are built for, and required at start."""
    stages = dockerfile_stages()
    builder = stages["builder"]
    # From base: the same Python (the build records sys.version) and the same packages.
    assert builder[0] == ("FROM", "base AS builder")
    assert args_of(builder, "USER") == ["root"], "apt-get needs root"
    assert [a.split()[0] for a in args_of(builder, "COPY")] == ["requirements-build.txt", "proxy/"]
    install, build = args_of(builder, "RUN")
    assert re.search(r"apt-get install -y --no-install-recommends\s+gcc libc6-dev", install)
    assert "rm -rf /var/lib/apt/lists/*" in install
    assert "pip install --no-cache-dir -r requirements-build.txt" in install
    assert build == "python -c 'from proxy import compiled; compiled.build()'"
    # The proxy image takes the build to where proxy/compiled.py looks for it (WORKDIR /app
    # is the repository root there), and no other image takes anything from the builder.
    where = compiled.BUILD.relative_to(compiled.ROOT).as_posix()
    for name, stage in stages.items():
        copied = [a.split() for a in args_of(stage, "COPY") if a.startswith("--from=builder")]
        expected = [["--from=builder", f"/app/{where}/", f"./{where}/"]] if name == "proxy" else []
        assert copied == expected, name
    assert args_of(stages["base"], "WORKDIR") == ["/app"]
    # A build that does not load (another Python, other sources) stops the proxy at start.
    assert env_of(stages["proxy"])[compiled.SETTING] == "1"
    assert compiled.SETTING not in env_of(stages["base"]) | env_of(builder)


def test_every_copied_path_exists():
    stages = dockerfile_stages()
    for name, stage in stages.items():
        for args in args_of(stage, "COPY"):
            if args.startswith("--from="):
                assert args.split()[0].removeprefix("--from=") in stages, f"{name}: COPY {args}"
                continue
            *sources, _dest = [w for w in args.split() if not w.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"{name}: COPY {source}: missing"


def test_dockerignore_keeps_secrets_out_of_the_build_context():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # An allow-list: ignore everything, re-include what the images copy.
    assert patterns[0] == "*"
    reincluded = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert reincluded >= {"requirements.txt", "requirements-build.txt", *PACKAGES.values()}
    assert not any(p in reincluded for p in (".env", "var", ".git", "deploy"))
    # The proxy image compiles its own modules: a local build/ is for the local Python.
    assert not any(p.split("/")[0] == "build" for p in reincluded)
