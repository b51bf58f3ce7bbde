"""Scale-out: jobs per minute with 1, 2 and 3 Celery workers, and /predict's latency on the API
while they train. One JSON line per figure.

Run (needs the scale extra, PostgreSQL on 127.0.0.1:5432 and redis-server on the PATH):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/scale_out.py \\
        [--workers 1 2 3] [--binary-jobs 24] [--next-word-jobs 12]

Each worker count gets a cluster of its own on this machine: a Redis of its own on a free port,
a fresh PostgreSQL database, `rnnlab serve` with RNNLAB_EXECUTOR=celery (the API trains nothing)
and N `rnnlab worker --concurrency 1`, each training on one thread. Every job of a batch is
submitted at once; jobs per minute is the batch over the time from the first submit to the last
job's end. The batches: short binary-addition jobs (the default job: 100% of all 8-bit sums,
well under a second alone) and one-epoch next-word jobs on the demo corpus. While the next-word
batch trains, a client asks `GET /predict?a=&b=` every 20 ms, one request at a time, and its
p50 and p99 are set beside those of the same client on the idle cluster.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import LocalCluster
from common import emit, ms, wait_for_job

PREDICT_EVERY_SECONDS = 0.02
BATCHES = {
    "binary_addition": {},
    "next_word": {"epochs": 1},
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class PredictSampler(threading.Thread):
    """GET /predict?a=&b= every 20 ms, one at a time, until stopped; latencies in seconds."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url, self.latencies, self.errors = base_url, [], 0
        self.stopped = threading.Event()

    def run(self) -> None:
        rng = random.Random(0)
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stopped.is_set():
                params = {"a": rng.randrange(128), "b": rng.randrange(128)}
                started = time.perf_counter()
                response = client.get("/predict", params=params)
                self.latencies.append(time.perf_counter() - started)
                self.errors += response.status_code != 200
                self.stopped.wait(PREDICT_EVERY_SECONDS)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def run_batch(client: httpx.Client, task: str, jobs: int) -> float:
    """Submit `jobs` jobs of `task` at once; seconds until the last has succeeded."""
    started = time.perf_counter()
    ids = []
    for _ in range(jobs):
        response = client.post("/train", json={"task": task, "hyperparams": BATCHES[task]})
        response.raise_for_status()
        ids.append(response.json()["id"])
    for job_id in ids:
        job = wait_for_job(client, job_id, poll_seconds=0.1)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
    return time.perf_counter() - started


def sample_latency(base_url: str, seconds: float) -> PredictSampler:
    sampler = PredictSampler(base_url)
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    return sampler


def emit_latency(workers: int, state: str, sampler: PredictSampler) -> None:
    latencies = sampler.latencies
    emit(
        figure="predict_latency",
        workers=workers,
        state=state,
        requests=len(latencies),
        errors=sampler.errors,
        p50_ms=ms(percentile(latencies, 0.5)),
        p99_ms=ms(percentile(latencies, 0.99)),
    )


def measure(cluster: LocalCluster, workers: int, binary_jobs: int, next_word_jobs: int) -> None:
    client = cluster.client
    seconds = run_batch(client, "binary_addition", binary_jobs)
    emit(
        figure="jobs_per_minute",
        task="binary_addition",
        workers=workers,
        jobs=binary_jobs,
        seconds=round(seconds, 2),
        jobs_per_minute=round(binary_jobs / seconds * 60, 1),
    )
    emit_latency(workers, "idle", sample_latency(cluster.base_url, 5))
    sampler = PredictSampler(cluster.base_url)
    sampler.start()
    seconds = run_batch(client, "next_word", next_word_jobs)
    sampler.stop()
    emit(
        figure="jobs_per_minute",
        task="next_word",
        workers=workers,
        jobs=next_word_jobs,
        seconds=round(seconds, 2),
        jobs_per_minute=round(next_word_jobs / seconds * 60, 2),
    )
    emit_latency(workers, "workers training next_word", sampler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--binary-jobs", type=int, default=24)
    parser.add_argument("--next-word-jobs", type=int, default=12)
    args = parser.parse_args()
    emit(machine={"cores": os.cpu_count(), "load_average": os.getloadavg()[0]})
    for workers in args.workers:
        with LocalCluster(workers) as cluster:
            measure(cluster, workers, args.binary_jobs, args.next_word_jobs)


if __name__ == "__main__":
    main()
