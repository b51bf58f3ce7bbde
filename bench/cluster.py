"""The cluster of docker-compose.yml as processes on this machine, for bench/scale_out.py: a Redis
of its own (redis-server on a free port, nothing on disk), a fresh PostgreSQL database on
127.0.0.1:5432 (dropped afterwards), `rnnlab serve` with RNNLAB_EXECUTOR=celery and N
`rnnlab worker --concurrency 1`, each training on one thread."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from common import (
    REPO,
    Service,
    free_port,
    launch,
    redis_command,
    rnnlab_command,
    service_env,
)

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
READY_SECONDS = 120  # a worker's start on a busy 2-core machine: imports and a broker connection


class LocalCluster:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.directory = Path(tempfile.mkdtemp(prefix="rnnlab-scale-out-"))
        self.database = f"rnnlab_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.processes: list[subprocess.Popen] = []
        self.api: Service | None = None
        self.client = httpx.Client()
        self.base_url = ""

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')
        broker_port = free_port()
        self.spawn("redis", redis_command(broker_port, self.directory))
        settings = {
            "executor": "celery",
            "broker_url": f"redis://127.0.0.1:{broker_port}/0",
            "database_url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}",
            "worker_threads": "1",
        }
        port = free_port()
        self.api = launch(
            rnnlab_command(),
            service_env(self.directory, port, **settings),
            port,
            self.directory / "api.log",
            health_path="/readyz",
            timeout=120,
        )
        self.base_url = self.api.base_url
        self.client = httpx.Client(base_url=self.base_url, timeout=60)
        worker = [*rnnlab_command()[:-2], "worker", "--concurrency", "1"]  # not "serve ..."
        for index in range(self.workers):
            self.spawn(f"worker{index}", worker, service_env(self.directory, port, **settings))
        self.wait_for_workers()

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        )

    def wait_for_workers(self) -> None:
        """Until every worker says it is ready (Celery's "ready." line), so that the timed
        batches measure N running workers and not their start."""
        logs = [self.directory / f"worker{index}.log" for index in range(self.workers)]
        deadline = time.monotonic() + READY_SECONDS
        while not all(" ready." in log.read_text(errors="replace") for log in logs):
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {READY_SECONDS} s: see {logs}")
            time.sleep(0.2)

    def close(self) -> None:
        self.client.close()
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        if self.api is not None:
            self.api.stop()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with contextlib.suppress(Exception):
            import psycopg

            with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        shutil.rmtree(self.directory, ignore_errors=True)
