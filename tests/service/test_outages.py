"""A database that goes away for a while is weather, not death: a running job waits at the step
it reached and goes on when the database is back (attempt 1, no metric point missing or written
twice), the worker processes stay the same, every route that needs the database answers 503
with Retry-After and a reason meanwhile (never a 500), /predict keeps answering from the models
in memory, and the log says it once when it starts and once when it ends, with no traceback.

PostgreSQL's outages are made the way an operator's are: the test's own database stops taking
connections (ALTER DATABASE ... ALLOW_CONNECTIONS false, as while a server restarts) and its
sessions are ended (pg_terminate_backend), together or the second alone, many times a second.
SQLite's is made by taking its data directory away (see `data_directory_gone`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveService, free_port
from tests.service.broken_storage import serve, service_on_postgres
from tests.service.conftest import ADMIN_URL
from tests.service.test_readiness import wait_ready, worker_pids
from tests.service.test_storage_faults import FAST_FAULTS, trained_model

OUTAGE_SECONDS = 4.0  # twice the heartbeat timeout of FAST_FAULTS: the job's heartbeat goes stale
# A job of about 20 s of training on a machine the watcher keeps busy: long enough for three
# outages at the progress marks, and it pauses during each (its writes wait). It never learns
# (plain SGD at 1e-9), so it runs all its iterations.
JOB = {"iterations": 6_000, "log_every": 10, "optimizer": "sgd", "learning_rate": 1e-9}
OUTAGE_AT_PROGRESS = (0.2, 0.45, 0.7)
JOB_TIMEOUT = 240.0


@dataclass
class Watcher:
    """A client that polls every read route that needs the database, /predict and one write
    (an alias set again) until told to stop, and keeps what it saw."""

    client: httpx.Client
    job_id: int
    model_id: int
    seen: Counter = field(default_factory=Counter)  # (path, status) -> count
    bad: list[str] = field(default_factory=list)  # what must never be answered
    _stop: threading.Event = field(default_factory=threading.Event)

    def paths(self) -> list[str]:
        job, model = self.job_id, self.model_id
        return [
            "/jobs",
            f"/jobs/{job}",
            f"/jobs/{job}/metrics",
            f"/jobs/{job}/records",
            f"/jobs/{job}/plot.svg",
            "/models",
            f"/models/{model}",
            f"/models/{model}/weights.npz",
            "/corpora",
            "/corpora/1",
            "/sweeps",
            "/events/stats",
            "/metrics",
            "/",
            "/readyz",
        ]

    def run(self) -> None:
        while not self._stop.is_set():
            for path in self.paths():
                self._check(path, self._get(path))
            alias = f"/models/{self.model_id}/aliases/watched"
            self._check(alias, self._request("PUT", alias))
            predicted = self._get("/predict?a=3&b=4")
            self._check("/predict", predicted)
            if predicted is not None and predicted.status_code != 200:
                self.bad.append(f"/predict answered {predicted.status_code}: {predicted.text}")
            time.sleep(0.1)

    def _get(self, path: str) -> httpx.Response | None:
        return self._request("GET", path)

    def _request(self, method: str, path: str) -> httpx.Response | None:
        try:
            return self.client.request(method, path, timeout=30)
        except httpx.TransportError as error:
            self.bad.append(f"{path}: no answer ({error!r})")
            return None

    def _check(self, path: str, response: httpx.Response | None) -> None:
        if response is None:
            return
        self.seen[path, response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.bad.append(f"{path} answered {response.status_code}: {response.text[:300]}")
        if response.status_code == 503 and path != "/readyz":
            if int(response.headers.get("Retry-After", "0")) <= 0:
                self.bad.append(f"{path} answered 503 without Retry-After")
            if not response.json()["detail"].startswith("storage is"):
                self.bad.append(f"{path} answered 503 without the reason: {response.text}")

    @contextlib.contextmanager
    def watching(self) -> Iterator[Watcher]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=60)

    def unavailable(self) -> int:
        return sum(n for (path, status), n in self.seen.items() if status == 503)


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def end_sessions(admin, name: str) -> None:  # type: ignore[no-untyped-def]
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
    )


@contextlib.contextmanager
def postgres_outage(url: str) -> Iterator[None]:
    """The test's own database refuses new connections and its sessions are ended, as while a
    server restarts, until the block ends."""
    import psycopg

    name = database_name(url)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            end_sessions(admin, name)
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def progress(live: LiveService, job_id: int) -> dict:
    return live.client.get(f"/jobs/{job_id}").json()


def wait_for_progress(live: LiveService, job_id: int, at_least: float) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT
    while (job := progress(live, job_id))["progress"] < at_least:
        assert job["status"] in ("queued", "running"), job
        assert time.monotonic() < deadline, f"stuck before {at_least}: {job}"
        time.sleep(0.1)


def assert_contiguous(live: LiveService, job: dict) -> None:
    """Every metric of the job at every logged step, once: nothing lost, nothing replayed."""
    metrics = live.client.get(f"/jobs/{job['id']}/metrics").json()["metrics"]
    steps: dict[str, list[int]] = {}
    for point in metrics:
        steps.setdefault(point["name"], []).append(point["step"])
    assert set(steps) == {"loss", "accuracy"}, steps.keys()
    expected = list(range(JOB["log_every"], JOB["iterations"] + 1, JOB["log_every"]))
    for name, logged in steps.items():
        assert sorted(logged) == expected, (name, sorted(set(expected) ^ set(logged))[:20])


def assert_log_says_each_outage_once(live: LiveService, outages: int, processes: int) -> None:
    log = live.log()
    assert "Traceback" not in log, log[-4000:]
    started = [line for line in log.splitlines() if "storage is unreachable" in line]
    ended = [line for line in log.splitlines() if "storage is back after" in line]
    # each process that met an outage says so once at its start and once at its end
    assert outages <= len(started) <= outages * processes, started
    assert len(ended) == len(started), (started, ended)
    assert "lost its worker" not in log
    assert "model lookup failed" not in log  # /predict's catalog check is the same outage


def assert_ran_once(live: LiveService, job_id: int) -> None:
    """One run from start to end: never handed back, never resumed from a checkpoint, so no
    training was lost, not even the steps since its last checkpoint."""
    runs = [line for line in live.log().splitlines() if f"rnnlab.jobs: job {job_id} " in line]
    assert sum(f"job {job_id} started" in line for line in runs) == 1, runs[:3]
    assert not [line for line in runs if f"job {job_id} resumed" in line]


@pytest.mark.slow  # ~35 s: a service, a model, a job of ~20 s training, three outages of 4 s
@pytest.mark.postgres
def test_a_job_lives_through_three_postgresql_outages(
    request: pytest.FixtureRequest, tmp_path: Path, service_factory
) -> None:
    live, url = service_on_postgres(request, tmp_path, service_factory, **FAST_FAULTS)
    trained_model(live)
    model_id = live.client.get("/models").json()["models"][0]["id"]
    assert live.client.get("/predict", params={"a": 3, "b": 4}).status_code == 200  # in memory
    pids = worker_pids(live)
    job = live.train("binary_addition", **JOB)

    with Watcher(httpx.Client(base_url=live.base_url), job["id"], model_id).watching() as watcher:
        for mark in OUTAGE_AT_PROGRESS:
            wait_for_progress(live, job["id"], mark)
            with postgres_outage(url):
                time.sleep(OUTAGE_SECONDS)
        ended = live.wait_for_job(job["id"], timeout=JOB_TIMEOUT)

    assert (ended["status"], ended["attempt"], ended["error"]) == ("succeeded", 1, None), ended
    assert_contiguous(live, ended)
    assert watcher.bad == [], watcher.bad[:10]
    assert watcher.unavailable() > 0, watcher.seen  # the outages were real
    assert worker_pids(live) == pids  # no worker died of it
    assert_log_says_each_outage_once(live, outages=3, processes=1 + len(pids))
    assert_ran_once(live, job["id"])
    wait_ready(live)


@pytest.mark.postgres
def test_reads_while_sessions_are_ended_many_times_a_second(
    request: pytest.FixtureRequest, tmp_path: Path, service_factory
) -> None:
    """The quick one: no outage of connections, only every session of the service ended every
    0.2 s for 3 s, while one client polls and bursts of them read at once. Each request meets it
    or not; none answers 500."""
    import psycopg

    live, url = service_on_postgres(request, tmp_path, service_factory)
    trained_model(live)
    model_id = live.client.get("/models").json()["models"][0]["id"]
    job_id = live.client.get("/jobs").json()["jobs"][0]["id"]
    assert live.client.get("/predict", params={"a": 3, "b": 4}).status_code == 200
    answers: list[httpx.Response] = []
    with (
        Watcher(httpx.Client(base_url=live.base_url), job_id, model_id).watching() as watcher,
        psycopg.connect(ADMIN_URL, autocommit=True) as admin,
    ):
        for path in ("/models", f"/jobs/{job_id}/metrics", "/jobs") * 5:
            end_sessions(admin, database_name(url))
            answers += burst(live.base_url, path, clients=8)
            time.sleep(0.2)
    failed = [f"{r.url.path}: {r.status_code} {r.text}" for r in answers if r.status_code == 500]
    assert failed == [], failed[:5]
    assert {r.status_code for r in answers} <= {200, 503}
    assert watcher.bad == [], watcher.bad[:10]
    assert "Traceback" not in live.log(), live.log()[-4000:]
    wait_ready(live)


@contextlib.contextmanager
def data_directory_gone(data_dir: Path) -> Iterator[None]:
    """SQLite's outage: the data directory replaced, until the block ends, by one whose
    rnnlab.db is not a database (a volume swapped under the service, a restore gone wrong).

    Root reads any file whatever its mode, so permissions cannot make the file unreadable here;
    renaming the directory can, for every connection opened meanwhile: it meets "file is not a
    database". A connection opened before keeps the file it opened (an open file outlives its
    name, and its WAL with it), so the service's pooled connections, and the job on them, may go
    on; the directory put back, both are one database again."""
    away = data_dir.with_name(data_dir.name + ".away")
    data_dir.rename(away)
    try:
        data_dir.mkdir()
        (data_dir / "rnnlab.db").write_bytes(b"not a database\n" * 1000)
        yield
    finally:
        for stray in data_dir.iterdir():
            stray.unlink()
        data_dir.rmdir()
        away.rename(data_dir)


def burst(base_url: str, path: str, clients: int = 24) -> list[httpx.Response]:
    """`clients` reads at once: more than the connection pool keeps (5), so the service opens
    new connections for them."""
    with (
        httpx.Client(base_url=base_url, timeout=60) as client,
        ThreadPoolExecutor(clients) as pool,
    ):
        return list(pool.map(lambda _: client.get(path), range(clients)))


@pytest.mark.slow  # ~20 s: a service, a model, a job, an outage of a few seconds
def test_a_job_lives_through_a_sqlite_database_gone(tmp_path: Path, service_factory) -> None:
    data_dir = tmp_path / "data"
    live = service_factory(data_dir, log_dir=tmp_path, **FAST_FAULTS)
    wait_ready(live)
    trained_model(live)
    model_id = live.client.get("/models").json()["models"][0]["id"]
    assert live.client.get("/predict", params={"a": 3, "b": 4}).status_code == 200
    pids = worker_pids(live)
    job = live.train("binary_addition", **JOB)

    with Watcher(httpx.Client(base_url=live.base_url), job["id"], model_id).watching() as watcher:
        wait_for_progress(live, job["id"], OUTAGE_AT_PROGRESS[0])
        with data_directory_gone(data_dir):
            answers = [r for path in ("/jobs", "/models") for r in burst(live.base_url, path)]
            time.sleep(1.0)
        ended = live.wait_for_job(job["id"], timeout=JOB_TIMEOUT)

    statuses = Counter(response.status_code for response in answers)
    assert set(statuses) <= {200, 503}, [r.text for r in answers if r.status_code >= 500]
    assert statuses[503] > 0, statuses  # new connections met the outage
    assert all(int(r.headers["Retry-After"]) > 0 for r in answers if r.status_code == 503)
    assert (ended["status"], ended["attempt"], ended["error"]) == ("succeeded", 1, None), ended
    assert_contiguous(live, ended)
    assert watcher.bad == [], watcher.bad[:10]
    assert worker_pids(live) == pids
    assert "Traceback" not in live.log(), live.log()[-4000:]
    assert_ran_once(live, job["id"])
    wait_ready(live)


def test_start_up_with_a_database_that_does_not_answer_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there: every connection is refused
    url = f"postgresql+psycopg://rnnlab:s3cret@127.0.0.1:{port}/rnnlab"
    refused = serve(tmp_path / "data", database_url=url)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert refused.stderr.strip().splitlines() == [
        f"rnnlab serve: cannot start: the database at "
        f"postgresql+psycopg://rnnlab:***@127.0.0.1:{port}/rnnlab does not answer (connection "
        f'failed: connection to server at "127.0.0.1", port {port} failed: Connection refused). '
        "Start it, or set RNNLAB_DATABASE_URL to one that answers, then start again"
    ], refused.stderr
