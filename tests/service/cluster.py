"""The cluster of docker-compose.yml as processes on separate hosts (tests/service/hosts.py).

Hosts: `broker` runs a Redis of the test's own, bound to its address only (the machine's Redis
listens on 127.0.0.1 and is shared by everyone); `api` runs `rnnlab serve`; `worker1`, `worker2`
run `rnnlab worker`. PostgreSQL is the machine's, in a fresh database, reached through a TCP
forwarder on the bridge's address (tcp_forward.py says why), so that every host reaches the
database and the broker by their addresses on the network and by nothing else.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import redis_command
from tests.conftest import free_port
from tests.service.hosts import Host, Network, network_of_hosts

REPO = Path(__file__).resolve().parents[2]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOSTS = ["broker", "api", "worker1", "worker2"]
WORKERS = ("worker1", "worker2")


@dataclass
class Cluster:
    network: Network
    logs: Path
    broker_url: str = ""
    database_url: str = ""
    api_url: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    client: httpx.Client = field(default_factory=httpx.Client)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def logs_tail(self) -> str:
        return "\n".join(f"--- {n}\n{self.log(n)[-2000:]}" for n in self.processes)

    def database_peers(self) -> set[str]:
        """The addresses the database's connections came from (the forwarder saw them)."""
        if "forwarder" not in self.processes:
            return set()
        lines = self.log("forwarder").splitlines()
        return {line.split()[1] for line in lines if line.startswith("peer ")}

    def broker_peers(self) -> set[str]:
        """The addresses of the broker's connected clients, from Redis' CLIENT LIST."""
        host, port = self.broker_url.removeprefix("redis://").split("/")[0].split(":")
        listing = subprocess.run(
            ["redis-cli", "-h", host, "-p", port, "client", "list"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        fields = (
            dict(f.split("=", 1) for f in line.split() if "=" in f) for line in listing.splitlines()
        )
        return {entry["addr"].rsplit(":", 1)[0] for entry in fields if "addr" in entry}

    def wait_for_job(self, job_id: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.client.get(f"/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']}:\n{self.logs_tail()}")
            time.sleep(0.1)


def launch(cluster: Cluster, name: str, host: Host, argv: list[str], **env: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RNNLAB_")}
    environment.update(env)
    cluster.processes[name] = subprocess.Popen(
        host.command(argv),
        cwd=REPO,
        env=environment,
        stdout=(cluster.logs / f"{name}.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_until(cluster: Cluster, name: str, ready, what: str, timeout: float = 60) -> None:
    """Poll `ready()` until true; fail with the process's log if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cluster.processes[name].poll() is not None:
            raise RuntimeError(f"{name} exited before {what}:\n{cluster.log(name)}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name}: no {what} after {timeout} s:\n{cluster.log(name)}")


def start_broker(cluster: Cluster) -> None:
    host = cluster.network.hosts["broker"]
    port = 6379 if cluster.network.isolated else free_port()
    launch(
        cluster,
        "broker",
        host,
        # Reached from the other hosts' addresses, not only from its own loopback
        [*redis_command(port, cluster.logs, host.address), "--protected-mode", "no"],
    )
    cluster.broker_url = f"redis://{host.address}:{port}/0"
    wait_until(cluster, "broker", lambda: cluster.broker_peers() is not None, "PING answer")


def start_database(cluster: Cluster, name: str) -> None:
    """A fresh database; on a private network, behind a forwarder on the bridge's address."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    address, port = "127.0.0.1", 5432
    if cluster.network.isolated:
        here = Host("gateway", cluster.network.gateway)
        forwarder = [sys.executable, str(REPO / "tests/service/tcp_forward.py")]
        launch(cluster, "forwarder", here, [*forwarder, here.address, "127.0.0.1", "5432"])
        wait_until(cluster, "forwarder", lambda: "port " in cluster.log("forwarder"), "port")
        address, port = here.address, int(cluster.log("forwarder").split()[1])
    cluster.database_url = f"postgresql+psycopg://postgres@{address}:{port}/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rnnlab_environment(cluster: Cluster, executor: str, **settings: str) -> dict[str, str]:
    environment = {
        "RNNLAB_EXECUTOR": executor,
        "RNNLAB_BROKER_URL": cluster.broker_url,
        "RNNLAB_DATABASE_URL": cluster.database_url,
        "RNNLAB_WORKER_THREADS": "1",
    }
    environment.update({f"RNNLAB_{k.upper()}": v for k, v in settings.items()})
    return environment


def start_api(cluster: Cluster, executor: str, **settings: str) -> None:
    host = cluster.network.hosts["api"]
    port = 8000 if cluster.network.isolated else free_port()
    environment = rnnlab_environment(cluster, executor, **settings)
    environment.update(
        {
            "RNNLAB_HOST": host.address,
            "RNNLAB_PORT": str(port),
            "RNNLAB_DATA_DIR": str(cluster.logs / "api"),
        }
    )
    serve = [sys.executable, "-m", "rnnlab.service.cli", "serve", "--no-access-log"]
    launch(cluster, "api", host, serve, **environment)
    cluster.api_url = f"http://{host.address}:{port}"
    # trust_env=False: a proxy from the environment must not carry the requests elsewhere.
    cluster.client = httpx.Client(base_url=cluster.api_url, timeout=30, trust_env=False)
    wait_until(
        cluster,
        "api",
        lambda: cluster.client.get("/readyz").status_code == 200,
        "200 from /readyz",
        timeout=120,
    )


def start_worker(cluster: Cluster, name: str, **settings: str) -> None:
    environment = rnnlab_environment(cluster, "celery", **settings)
    environment["RNNLAB_DATA_DIR"] = str(cluster.logs / name)
    argv = [sys.executable, "-m", "rnnlab.service.cli", "worker", "--concurrency", "1"]
    launch(cluster, name, cluster.network.hosts[name], argv, **environment)


def stop(cluster: Cluster) -> None:
    """SIGTERM every process (workers first), then SIGKILL what is still there after 20 s."""
    cluster.client.close()
    for name in sorted(cluster.processes, key=lambda n: n not in WORKERS):
        if cluster.processes[name].poll() is None:
            cluster.processes[name].terminate()
    for process in cluster.processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_cluster(logs: Path, executor: str = "celery", **settings: str) -> Iterator[Cluster]:
    """Broker, database, API and (with the celery executor) two workers, each on its host."""
    name = f"rnnlab_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with network_of_hosts(HOSTS) as network:
        cluster = Cluster(network, logs)
        try:
            start_broker(cluster)
            start_database(cluster, name)
            if executor == "celery":
                for worker in WORKERS:
                    start_worker(cluster, worker, **settings)
            start_api(cluster, executor, **settings)
            yield cluster
        finally:
            stop(cluster)
            if cluster.database_url:
                drop_database(name)
