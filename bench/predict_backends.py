"""`/predict` on SQLite and on PostgreSQL: the same service, one backend each, taking turns.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv-bench/bin/python bench/predict_backends.py \
        [--rounds 10] [--requests 50]

Each backend gets an `rnnlab serve` of its own (SQLite in a temporary directory, a fresh
PostgreSQL database on 127.0.0.1:5432) with one binary-addition model. Sequential
`GET /predict?a=3&b=4` with no `model=`, so each asks which model is the newest: the rounds
alternate between the two services (this machine's speed drifts between minutes), the first
round of each is a warm-up, and one JSON line per backend gives the median and p90 in ms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from common import emit, median, ms, start_rnnlab, wait_for_job

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50, help="a round, per backend")
    args = parser.parse_args()

    import psycopg

    database = f"rnnlab_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    directory = Path(tempfile.mkdtemp(prefix="rnnlab-bench-"))
    backends = {
        "sqlite": {},
        "postgresql": {"database_url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"},
    }
    services = {}
    try:
        for name, settings in backends.items():
            services[name] = start_rnnlab(directory / name, **settings)
        clients = {name: service.client() for name, service in services.items()}
        for client in clients.values():
            job = client.post("/train", json={"task": "binary_addition", "hyperparams": {}})
            assert wait_for_job(client, job.json()["id"])["status"] == "succeeded"
        latencies: dict[str, list[float]] = {name: [] for name in services}
        for round_ in range(args.rounds + 1):
            for name, client in clients.items():
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get("/predict", params={"a": 3, "b": 4})
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200, response.text
                    if round_:  # the first round warms both up
                        latencies[name].append(elapsed)
        for name, values in latencies.items():
            values.sort()
            emit(
                benchmark="predict_backends",
                backend=name,
                requests=len(values),
                p50_ms=ms(median(values)),
                p90_ms=ms(values[int(0.9 * len(values))]),
            )
    finally:
        for service in services.values():
            service.stop()
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
