"""Shared fixtures: a real rnnlab service (uvicorn + worker processes) on a free local port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings

from bench.common import free_port, service_env, stop_process

# A property holds or fails whatever the machine's load: hypothesis's per-example deadline and
# its too-slow check measure time, which a busy machine (CI beside other jobs) stretches.
settings.register_profile("rnnlab", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("rnnlab")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
POSTGRES_URL = os.environ.get(
    "RNNLAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class LiveService:
    """A service process started by the tests; `client` speaks HTTP to it."""

    process: subprocess.Popen
    base_url: str
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    client: httpx.Client

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 the whole service (its workers die with it)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.process)
        self.client.close()

    def wait_for_job(
        self, job_id: int, timeout: float = 60.0, until=("succeeded", "failed", "cancelled")
    ) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.client.get(f"/jobs/{job_id}").json()
            if job["status"] in until:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"job {job_id} still {job['status']} after {timeout} s:\n{self.log()[-3000:]}"
                )
            time.sleep(0.05)

    def train(self, task: str, **hyperparams) -> dict:
        response = self.client.post("/train", json={"task": task, "hyperparams": hyperparams})
        assert response.status_code == 202, response.text
        return response.json()


def start_service(data_dir: Path, log_dir: Path | None = None, **settings: str) -> LiveService:
    """A service on a free port; started again on another one when something else took the
    port between the pick and the bind (several test runs on one machine). Its log goes to
    `log_dir` (default: the data directory)."""
    for _ in range(3):
        try:
            return _start_service_on(free_port(), data_dir, log_dir or data_dir, **settings)
        except PortTaken:
            continue
    raise RuntimeError("no free port could be bound three times in a row")


class PortTaken(RuntimeError):
    pass


def _start_service_on(port: int, data_dir: Path, log_dir: Path, **settings: str) -> LiveService:
    env = service_env(data_dir, port, **settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"service-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnlab.service.cli", "serve", "--no-access-log"],
        cwd=REPO,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, timeout=30)
    service = LiveService(process, base_url, data_dir, env, log_path, client)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if "address already in use" in service.log():
                raise PortTaken(port)
            raise RuntimeError(f"the service exited with {process.returncode}:\n{service.log()}")
        try:
            if client.get("/healthz").status_code == 200:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"the service did not become healthy:\n{service.log()}")


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One service shared by the tests that do not need a fresh one."""
    live = start_service(tmp_path_factory.mktemp("service"))
    yield live
    live.stop()


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., LiveService]]:
    """Start fresh services (own data directory unless given); all are stopped afterwards."""
    started: list[LiveService] = []

    def factory(data_dir: Path | None = None, **settings) -> LiveService:
        live = start_service(data_dir or tmp_path / f"data{len(started)}", **settings)
        started.append(live)
        return live

    yield factory
    for live in started:
        live.stop()


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2):
            return True
    except Exception:
        return False
