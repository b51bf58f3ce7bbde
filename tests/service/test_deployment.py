"""No Docker engine runs here: check that the single-container compose file
(docker-compose.embedded.yml) and the Dockerfile name real things. The cluster's compose file is
checked in test_compose.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = REPO / "docker-compose.embedded.yml"


def test_compose_file_parses_and_names_a_real_command_and_volume() -> None:
    compose = yaml.safe_load(EMBEDDED.read_text())
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert (REPO / "Dockerfile").is_file()
    assert api["command"][:2] == ["rnnlab", "serve"]
    volume, mount = api["volumes"][0].split(":")
    assert volume in compose["volumes"]
    assert api["environment"]["RNNLAB_DATA_DIR"] == mount
    # The embedded default: SQLite in the volume and the API's own workers, nothing else.
    assert set(compose["services"]) == {"api"}
    assert "RNNLAB_EXECUTOR" not in api["environment"]
    assert "RNNLAB_DATABASE_URL" not in api["environment"]
    # The console script the command names exists and knows the sub-command.
    rnnlab = shutil.which("rnnlab", path=str(Path(sys.executable).parent))
    assert rnnlab is not None
    help_text = subprocess.run(
        [rnnlab, "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert "RNNLAB_HOST" in help_text.stdout


def test_dockerfile_copies_paths_that_exist() -> None:
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"


def test_db_upgrade_command_migrates_an_empty_database(tmp_path: Path) -> None:
    rnnlab = Path(sys.executable).parent / "rnnlab"
    result = subprocess.run(
        [str(rnnlab), "db", "upgrade"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "RNNLAB_DATA_DIR": str(tmp_path)},
        check=True,
    )
    assert "head" in result.stdout
    assert (tmp_path / "rnnlab.db").is_file()


def test_compose_publishes_and_serves_the_configured_port() -> None:
    api = yaml.safe_load(EMBEDDED.read_text())["services"]["api"]
    assert api["ports"] == ["127.0.0.1:${RNNLAB_PORT:-8000}:${RNNLAB_PORT:-8000}"]
    assert api["environment"]["RNNLAB_PORT"] == "${RNNLAB_PORT:-8000}"


def healthcheck_command() -> list[str]:
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("HEALTHCHECK "):
            return json.loads(line.split(" CMD ", 1)[1])
    raise AssertionError("the Dockerfile has no HEALTHCHECK")


def test_the_healthcheck_asks_readyz_on_rnnlab_port(service) -> None:
    command = healthcheck_command()
    command[0] = sys.executable  # the image's python
    port = service.base_url.rsplit(":", 1)[1]
    deadline = time.monotonic() + 60
    while service.client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    env = {**os.environ, "RNNLAB_PORT": port}
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    elsewhere = {**os.environ, "RNNLAB_PORT": str(free_port())}
    assert subprocess.run(command, env=elsewhere, capture_output=True).returncode != 0
