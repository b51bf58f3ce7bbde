"""bench/binary_addition.py's last figure: POST /train -> job `succeeded` as a client sees it
on a warm service, and its parts from the job's timestamps (queue wait, run)."""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import emit, median, ms, start_rnnlab

SERVICE_TARGET_MS = 50.0


def bench_service(jobs: int, worker_nice: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-") as tmp:
        settings = {} if worker_nice is None else {"worker_nice": worker_nice}
        service = start_rnnlab(Path(tmp), **settings)
        try:
            with service.client() as client:
                first = _job_latency(client)  # the worker's first imports and first job
                time.sleep(0.5)  # a warm service is an idle one: no job just finished
                rows = []
                for _ in range(jobs):
                    rows.append(_job_latency(client))
                    time.sleep(0.2)
        finally:
            service.stop()

    def seconds(a: str, b: str) -> float:
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()

    value = median([r[0] for r in rows])
    emit(
        impl="service",
        figure="post_train_to_succeeded",
        worker_nice=worker_nice or "default",
        first_job_ms=ms(first[0]),
        jobs=len(rows),
        median_ms=ms(value),
        min_ms=ms(min(r[0] for r in rows)),
        max_ms=ms(max(r[0] for r in rows)),
        queue_wait_ms=ms(median([seconds(j["created_at"], j["started_at"]) for _, j in rows])),
        run_ms=ms(median([seconds(j["started_at"], j["finished_at"]) for _, j in rows])),
        created_to_finished_ms=ms(
            median([seconds(j["created_at"], j["finished_at"]) for _, j in rows])
        ),
        median_steps=median([j["steps"] for _, j in rows]),
        target_ms=SERVICE_TARGET_MS,
        holds=value * 1000 <= SERVICE_TARGET_MS,
    )


def _job_latency(client) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    """POST a default job and poll it every 2 ms until it has succeeded."""
    start = time.perf_counter()
    response = client.post("/train", json={"task": "binary_addition", "hyperparams": {}})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.002)
    latency = time.perf_counter() - start
    assert job["status"] == "succeeded", job
    model = client.get(f"/models/{job['model_id']}").json()
    job["steps"] = model["metrics"]["steps"]
    return latency, job
