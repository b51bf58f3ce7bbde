"""The cluster's compose file (docker-compose.yml), checked without a Docker engine (none runs
here): the services and their order of start, the health checks, one environment that points
every rnnlab container at the same broker and database, and commands the image really has."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]
RNNLAB_SERVICES = ("migrate", "api", "worker")
DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def interpolate(value: str) -> str:
    """What compose makes of `${NAME:-default}` with nothing set in the environment."""
    return DEFAULT.sub(lambda match: match.group(2), value)


def healthcheck(service: dict) -> str:
    return " ".join(service["healthcheck"]["test"])


def test_the_cluster_has_its_five_services(compose: dict) -> None:
    assert set(compose["services"]) == {"postgres", "redis", "migrate", "api", "worker"}
    for name in RNNLAB_SERVICES:
        assert compose["services"][name]["build"] == ".", name
        assert compose["services"][name]["image"] == "rnnlab:local", name


def test_each_server_has_a_healthcheck_that_asks_it(compose: dict) -> None:
    services = compose["services"]
    assert "/readyz" in healthcheck(services["api"])
    assert "RNNLAB_PORT" in healthcheck(services["api"])
    assert healthcheck(services["redis"]).startswith("CMD redis-cli ping")
    assert "pg_isready" in healthcheck(services["postgres"])
    # The image's HEALTHCHECK asks /readyz, which no worker and no one-shot migration serves.
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_migrations_run_once_before_the_api_and_the_workers(compose: dict) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name


def test_every_rnnlab_container_uses_the_same_broker_and_database(compose: dict) -> None:
    services = compose["services"]
    postgres = services["postgres"]["environment"]
    environments = [services[name]["environment"] for name in RNNLAB_SERVICES]
    for environment in environments:
        assert environment["RNNLAB_EXECUTOR"] == "celery"
        assert environment["RNNLAB_BROKER_URL"] == environments[0]["RNNLAB_BROKER_URL"]
        assert environment["RNNLAB_DATABASE_URL"] == environments[0]["RNNLAB_DATABASE_URL"]
    broker = make_url(environments[0]["RNNLAB_BROKER_URL"])
    assert (broker.drivername, broker.host) == ("redis", "redis")
    database = make_url(interpolate(environments[0]["RNNLAB_DATABASE_URL"]))
    assert database.drivername == "postgresql+psycopg"
    assert database.host == "postgres"
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == interpolate(postgres["POSTGRES_PASSWORD"])
    assert database.database == postgres["POSTGRES_DB"]


def test_postgres_keeps_its_data_in_a_declared_volume(compose: dict) -> None:
    volume, mount = compose["services"]["postgres"]["volumes"][0].split(":")
    assert volume in compose["volumes"]
    assert mount == "/var/lib/postgresql/data"


def test_the_worker_scales_out(compose: dict) -> None:
    """`--scale worker=3` starts three replicas: a fixed name or a published port would clash."""
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "RNNLAB_HOST" not in worker["environment"]  # no HTTP server in a worker
    api = compose["services"]["api"]
    assert api["ports"] == ["127.0.0.1:${RNNLAB_PORT:-8000}:${RNNLAB_PORT:-8000}"]
    assert api["environment"]["RNNLAB_PORT"] == "${RNNLAB_PORT:-8000}"


@pytest.mark.parametrize("service", RNNLAB_SERVICES)
def test_each_command_is_a_real_rnnlab_command(compose: dict, service: str) -> None:
    command = compose["services"][service]["command"]
    assert command[0] == "rnnlab"
    words = [word for word in command[1:] if not word.startswith("-") and not word.isdigit()]
    rnnlab = Path(sys.executable).with_name("rnnlab")
    result = subprocess.run(
        [str(rnnlab), *words, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for option in (word for word in command[1:] if word.startswith("--")):
        assert option in result.stdout, f"`rnnlab {' '.join(words)}` has no {option}"


def test_the_image_installs_the_scale_extra_with_the_postgres_driver() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*'\.\[scale\]'", dockerfile)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    requirements = " ".join(extras["scale"])
    assert "psycopg[binary]" in requirements
    assert "celery[redis]" in requirements
