"""The README's curl examples print what their comments say, run against a live stack."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Stack, running_stack
from tests.support import REPO

pytestmark = pytest.mark.slow

README_PORT = "127.0.0.1:10080"


def curl_examples() -> list[tuple[str, str]]:
    """(command, the output its comment shows) for each line of the Try-it block."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Try it with curl") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no ```sh block under 'Try it with curl'"
    joined = block.group(1).replace("\\\n", " ")  # continuation lines
    examples = []
    for line in joined.splitlines():
        command, _, shown = line.rpartition(" # ")
        assert command, f"an example without its output in a comment: {line!r}"
        examples.append((command.strip(), shown.strip()))
    return examples


def normalized(output: str) -> str:
    """What may differ between runs: the seconds left, and curl 8's 'Reusing' for curl 7's
    'Re-using'."""
    output = re.sub(r"\d+ seconds left", "N seconds left", output.replace("\r", "").strip())
    return output.replace("Re-using", "Reusing")


@pytest.fixture(scope="module")
def readme_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (`make test` installs Debian's package)")
    tmp = tmp_path_factory.mktemp("readme")
    env = {"DEMO_USERID": "demo", "DEMO_PASSWORD": "gatehouse"}  # the README's account
    with running_stack(tmp, auth_env=env) as stack:
        yield stack


def test_the_examples_are_found():
    commands = [command for command, _ in curl_examples()]
    assert len(commands) == 5
    assert all(command.startswith("curl ") for command in commands)


def test_each_example_prints_what_the_readme_shows(readme_stack, tmp_path):
    # In order, in one directory: the login writes the cookie jar the others read.
    for command, shown in curl_examples():
        live = command.replace(README_PORT, f"127.0.0.1:{readme_stack.port}")
        result = subprocess.run(
            ["bash", "-c", live],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert normalized(result.stdout) == normalized(shown), (
            f"{command}\nprints {result.stdout!r}, the README shows {shown!r}"
        )
