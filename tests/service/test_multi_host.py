"""Workers as separate hosts: the API on one host, a Celery worker on each of two others, the
broker on a fourth and the database behind the network's gateway (tests/service/cluster.py).
Jobs submitted to the API train on the workers, and every process reaches the others by their
addresses on the network only. Where network namespaces are refused, the hosts are processes on
127.0.0.1 and only the address checks are left out (test_hosts.py's skip says why)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import postgres_available
from tests.service.cluster import WORKERS, Cluster, running_cluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is missing"),
]
# A worker's start (Celery, numpy, a broker and a database connection) on a busy 2-core machine
# takes seconds; a minute leaves room for a machine under other tests' load.
READY_SECONDS = 120
NEXT_WORD = {"epochs": 1, "hidden_size": 16, "embedding_size": 8}


def wait_for_workers(cluster: Cluster) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not all(" ready." in cluster.log(worker) for worker in WORKERS):
        assert time.monotonic() < deadline, f"workers not ready:\n{cluster.logs_tail()}"
        for worker in WORKERS:
            assert cluster.processes[worker].poll() is None, cluster.log(worker)
        time.sleep(0.2)


def submit(cluster: Cluster, task: str, hyperparams: dict) -> int:
    response = cluster.client.post("/train", json={"task": task, "hyperparams": hyperparams})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def job_runs(cluster: Cluster) -> dict[int, tuple[str, str, int]]:
    """Each job's run, read from the database itself (the API shows a job's worker only while
    it runs): the host of its worker process, which of the cluster's workers that process
    belongs to (a Celery pool process is a child of the worker the test started), its attempt."""
    import psycopg

    name = cluster.database_url.rsplit("/", 1)[1]
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as connection:
        rows = connection.execute("SELECT id, worker_id, attempt FROM jobs").fetchall()
    workers = {cluster.processes[worker].pid: worker for worker in WORKERS}
    runs = {}
    for job_id, owner, attempt in rows:
        host, _, pid = owner.rpartition(":")
        runs[job_id] = (host, workers.get(parent_pid(int(pid)), f"pid {pid}"), attempt)
    return runs


def parent_pid(pid: int) -> int:
    """The parent of a live process (the fourth field of /proc/PID/stat, after its name)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_jobs_submitted_to_the_api_train_on_workers_on_two_other_hosts(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        wait_for_workers(cluster)
        # Two longer jobs first: each worker holds one job and reserves no other, so both
        # workers get one of them, whatever order they ask the broker in.
        ids = [submit(cluster, "next_word", NEXT_WORD) for _ in range(2)]
        ids += [submit(cluster, "binary_addition", {}) for _ in range(6)]
        jobs = [cluster.wait_for_job(job_id, timeout=300) for job_id in ids]
        assert [job["status"] for job in jobs] == ["succeeded"] * len(ids), jobs

        runs = job_runs(cluster)
        # Both workers trained, each job exactly once, and never the API (it has no worker).
        assert {worker for _, worker, _ in runs.values()} == set(WORKERS), runs
        assert {attempt for _, _, attempt in runs.values()} == {1}, runs
        for host, worker, _ in runs.values():
            assert host == cluster.network.hosts[worker].hostname

        binary = cluster.client.get("/predict", params={"a": 37, "b": 45})
        assert binary.status_code == 200, binary.text
        assert binary.json()["sum"] == 82  # the default job reaches 100% exact sums
        words = cluster.client.get("/predict", params={"text": "the children walk to", "k": 3})
        assert words.status_code == 200, words.text
        assert len(words.json()["predictions"]) == 3

        if cluster.network.isolated:
            addresses = {name: host.address for name, host in cluster.network.hosts.items()}
            api, workers = addresses["api"], {addresses[worker] for worker in WORKERS}
            # Every connection to the database came through the gateway's forwarder, from the
            # API and both workers: nothing reached it another way.
            assert cluster.database_peers() == {api, *workers}
            # Both workers consume from the broker on its address; nobody else but the API
            # (it sends) and this test (it asks CLIENT LIST) is connected.
            peers = cluster.broker_peers()
            assert workers <= peers <= {api, *workers, cluster.network.gateway}
