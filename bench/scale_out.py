"""Scale-out: jobs per minute with 1, 2 and 3 Celery workers, and /predict's latency on the API
while they train. One JSON line per figure.

Run (needs the scale extra, PostgreSQL on 127.0.0.1:5432 and redis-server on the PATH):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/scale_out.py \\
        [--workers 1 2 3] [--rounds 3] [--binary-jobs 36] [--next-word-jobs 24]

Each worker count gets a cluster of its own on this machine, each round: a Redis of its own on a
free port, a fresh PostgreSQL database, `rnnlab serve` with RNNLAB_EXECUTOR=celery (the API
trains nothing) and N `rnnlab worker --concurrency 1`, each training on one thread. The worker
counts take turns round by round, since this machine's speed drifts between minutes. Every job
of a batch is submitted at once; jobs per minute is the batch over the time from the first
submit to the last job's success. The batches: short binary-addition jobs (the default job:
100% of all 8-bit sums, well under a second alone) and one-epoch next-word jobs on the demo
corpus. While the next-word batch trains, a client asks `GET /predict?a=&b=` every 20 ms, one
request at a time, and its p50 and p99 are set beside those of the same client on the idle
cluster. The summary lines give the median of the rounds and its ratio to one worker's.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
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


def latency_figures(latencies: list[float]) -> dict[str, object]:
    return {
        "requests": len(latencies),
        "p50_ms": ms(percentile(latencies, 0.5)),
        "p99_ms": ms(percentile(latencies, 0.99)),
    }


def timed_batch(workers: int, client: httpx.Client, task: str, jobs: int) -> float:
    """Jobs per minute of one batch, also printed as a line of its own."""
    seconds = run_batch(client, task, jobs)
    rate = round(jobs / seconds * 60, 1)
    emit(
        figure="jobs_per_minute",
        task=task,
        workers=workers,
        jobs=jobs,
        seconds=round(seconds, 2),
        jobs_per_minute=rate,
        load_average=round(os.getloadavg()[0], 2),  # what else ran beside: it drifts
    )
    return rate


def measure(cluster: LocalCluster, workers: int, args: argparse.Namespace, results: dict) -> None:
    """One round on one cluster: a warm-up, the binary batch, /predict idle, the next-word
    batch with /predict asked meanwhile."""
    rates, latencies = results["rates"], results["latencies"]
    # Warm-up, untimed: one next-word job per worker (each holds one job at a time, so every
    # worker gets one), so that every pool process has paid its first job's imports and a binary
    # model is there for /predict.
    run_batch(cluster.client, "next_word", workers)
    run_batch(cluster.client, "binary_addition", 1)
    rate = timed_batch(workers, cluster.client, "binary_addition", args.binary_jobs)
    rates.setdefault(("binary_addition", workers), []).append(rate)
    for state, sampler in (
        ("idle", PredictSampler(cluster.base_url)),
        ("workers training next_word", PredictSampler(cluster.base_url)),
    ):
        sampler.start()
        if state == "idle":
            time.sleep(args.idle_seconds)
        else:
            rate = timed_batch(workers, cluster.client, "next_word", args.next_word_jobs)
            rates.setdefault(("next_word", workers), []).append(rate)
        sampler.stop()
        results["errors"] += sampler.errors
        latencies.setdefault((workers, state), []).extend(sampler.latencies)


def summarise(results: dict) -> None:
    """Per task and worker count, the median of the rounds and its ratio to one worker's;
    /predict's percentiles over every round's requests."""
    rates = results["rates"]
    for (task, workers), values in sorted(rates.items()):
        median = statistics.median(values)
        single = statistics.median(rates.get((task, 1), [median]))
        emit(
            summary="jobs_per_minute",
            task=task,
            workers=workers,
            median=round(median, 1),
            rounds=values,
            of_one_worker=round(median / single, 2),
        )
    for (workers, state), latencies in sorted(results["latencies"].items()):
        emit(
            summary="predict_latency",
            workers=workers,
            state=state,
            errors=results["errors"],
            **latency_figures(latencies),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--binary-jobs", type=int, default=36)
    parser.add_argument("--next-word-jobs", type=int, default=24)
    parser.add_argument("--idle-seconds", type=float, default=5)
    args = parser.parse_args()
    emit(machine={"cores": os.cpu_count(), "load_average": os.getloadavg()[0]})
    results: dict = {"rates": {}, "latencies": {}, "errors": 0}
    for _ in range(args.rounds):  # the worker counts take turns: this machine drifts
        for workers in args.workers:
            with LocalCluster(workers) as cluster:
                measure(cluster, workers, args, results)
    summarise(results)


if __name__ == "__main__":
    main()
