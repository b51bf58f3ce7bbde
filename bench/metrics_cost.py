"""What the Prometheus request middleware costs a /predict, in process: one JSON line per figure.

Run:

    .venv/bin/python bench/metrics_cost.py [--requests 500 --pairs 100]

One app (a fresh data directory, a binary-addition and a next-word model trained by its own
worker) is called straight through ASGI, without a server or a socket, through two middleware
stacks that differ only by `RequestMetrics`. Blocks of requests alternate between the two
stacks, which of the two goes first alternating too (this machine's speed drifts between
minutes), each timed in CPU seconds of this process
(other processes on a shared machine then add little noise), and the cost is the median over
the pairs of blocks of (with - without) / without. Through a real server each request also
pays the HTTP parsing and the socket, so the share there is smaller still.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `rnnlab serve` sets it

QUERIES = {"binary": b"a=37&b=45", "next_word_cached": b"text=the%20children%20walk%20to&k=5"}


def emit(**figures: object) -> None:
    print(json.dumps(figures), flush=True)


async def call(
    app: Any, stack: Any, method: str, path: str, query: bytes, body: bytes = b""
) -> Any:
    """One request through `stack`; the status and the body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app,
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await stack(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def train(app: Any, stack: Any, task: str) -> None:
    body = json.dumps({"task": task, "hyperparams": {}}).encode()
    status, answer = await call(app, stack, "POST", "/train", b"", body)
    assert status == 202, answer
    job_id = json.loads(answer)["id"]
    while True:
        _, answer = await call(app, stack, "GET", f"/jobs/{job_id}", b"")
        if json.loads(answer)["status"] in ("succeeded", "failed", "cancelled"):
            return
        await asyncio.sleep(0.1)


async def timed(app: Any, stack: Any, query: bytes, requests: int) -> float:
    """CPU seconds per request over `requests` sequential ones."""
    started = time.process_time()
    for _ in range(requests):
        await call(app, stack, "GET", "/predict", query)
    return (time.process_time() - started) / requests


async def measure(requests: int, pairs: int) -> None:
    from rnnlab.service.api.request_metrics import RequestMetrics
    from rnnlab.service.app import create_app
    from rnnlab.service.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rnnlab-metrics-cost-") as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir)))
        with_metrics = app.build_middleware_stack()
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestMetrics]
        without_metrics = app.build_middleware_stack()
        async with app.router.lifespan_context(app):
            await train(app, with_metrics, "binary_addition")
            await train(app, with_metrics, "next_word")
            for name, query in QUERIES.items():
                for stack in (with_metrics, without_metrics):  # warm: models loaded, caches full
                    status, answer = await call(app, stack, "GET", "/predict", query)
                    assert status == 200, answer
                    await timed(app, stack, query, max(requests // 10, 1))
                costs, bare = [], []
                for pair in range(pairs):
                    if pair % 2:  # either one first in turn: no bias from going second
                        on = await timed(app, with_metrics, query, requests)
                        off = await timed(app, without_metrics, query, requests)
                    else:
                        off = await timed(app, without_metrics, query, requests)
                        on = await timed(app, with_metrics, query, requests)
                    costs.append((on - off) / off)
                    bare.append(off)
                emit(
                    route="/predict",
                    query=name,
                    requests_per_block=requests,
                    pairs=pairs,
                    cpu_us_per_request_without=round(statistics.median(bare) * 1e6, 1),
                    metrics_cost_median=round(statistics.median(costs), 4),
                    metrics_cost_quartiles=[
                        round(q, 4) for q in statistics.quantiles(costs, n=4)[::2]
                    ],
                    target="< 0.05",
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per block")
    parser.add_argument("--pairs", type=int, default=100, help="alternated pairs of blocks")
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.pairs))


if __name__ == "__main__":
    main()
