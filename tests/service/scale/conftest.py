"""A Celery cluster made of real processes: `rnnlab serve` (RNNLAB_EXECUTOR=celery) and
`rnnlab worker` processes, on the machine's PostgreSQL (a fresh database per test) and Redis
or RabbitMQ. Each cluster has a queue of its own (on Redis, every key is prefixed with it),
so that parallel test runs sharing a broker never see each other's jobs."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.common import redis_command
from tests.conftest import REPO, LiveService, free_port, postgres_available, start_service

REDIS_URL = os.environ.get("RNNLAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("RNNLAB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def reachable(url: str) -> bool:
    from kombu.utils.url import url_to_parts

    parts = url_to_parts(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pool_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm: jobs hand back, then it exits
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """kill -9 the worker and its pool processes, as a machine that dies."""
        pids = self.pool_pids()
        self.process.send_signal(signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Cluster:
    """The settings every process of the cluster shares, and the processes started."""

    settings: dict[str, str]
    data_dir: Path
    api: LiveService | None = None
    workers: list[Worker] = field(default_factory=list)

    def start_api(self, **settings: str) -> LiveService:
        self.api = start_service(self.data_dir / "api", **{**self.settings, **settings})
        return self.api

    def start_worker(self, concurrency: int = 1, **settings: str) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RNNLAB_")}
        merged = {"worker_threads": "1", **self.settings, **settings}
        env.update({f"RNNLAB_{k.upper()}": v for k, v in merged.items()})
        env["RNNLAB_DATA_DIR"] = str(self.data_dir)
        log_path = self.data_dir / f"worker-{len(self.workers)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "rnnlab.service.cli", "worker", f"--concurrency={concurrency}"],
            cwd=REPO,
            env=env,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        deadline = time.monotonic() + 60
        while " ready." not in worker.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{worker.log()}")
            time.sleep(0.1)
        return worker

    def logs(self) -> str:
        return "\n".join(worker.log() for worker in self.workers)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.api is not None:
            self.api.stop()


def _cluster(tmp_path: Path, postgres_url: str, broker_url: str) -> Iterator[Cluster]:
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    if not reachable(broker_url):
        pytest.skip(f"the broker {broker_url} is not reachable")
    queue = f"rnnlab-test-{uuid.uuid4().hex[:10]}"
    settings = {
        "executor": "celery",
        "broker_url": broker_url,
        "broker_queue": queue,
        "database_url": postgres_url,
    }
    cluster = Cluster(settings, tmp_path)
    yield cluster
    cluster.stop()
    forget_queue(broker_url, queue)


def forget_queue(broker_url: str, queue: str) -> None:
    """What the cluster left on the broker: its queue (RabbitMQ) or its keys (Redis)."""
    if broker_url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker_url)
        keys = list(client.scan_iter(match=f"{queue}:*"))
        if keys:
            client.delete(*keys)
        client.close()
        return
    from kombu import Connection

    with Connection(broker_url) as connection:
        channel = connection.default_channel
        channel.queue_delete(queue)
        channel.exchange_delete(queue)


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str) -> Iterator[Cluster]:
    """A cluster on the machine's Redis (its own key prefix and queue)."""
    yield from _cluster(tmp_path, postgres_url, REDIS_URL)


@pytest.fixture
def amqp_cluster(tmp_path: Path, postgres_url: str) -> Iterator[Cluster]:
    """A cluster on the machine's RabbitMQ (its own queue and exchange)."""
    yield from _cluster(tmp_path, postgres_url, AMQP_URL)


@dataclass
class RedisServer:
    """A redis-server of the test's own, which it may stop and start again on the same port."""

    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            redis_command(self.port, self.directory),
            stdout=(self.directory / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not reachable(self.url):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop without saving: every message it held is gone, as on a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(free_port(), directory)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_cluster(
    tmp_path: Path, postgres_url: str, own_redis: RedisServer
) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, postgres_url, own_redis.url)
