"""Serving throughput: `wrk` against GET /predict of a running `rnnlab serve`, side by side with a
bare FastAPI endpoint under the same uvicorn. One JSON line per figure.

Run:

    .venv/bin/python bench/serving.py            # wrk -t2 -c50 -d10s per scenario

Scenarios, each `wrk -t{threads} -c{connections} -d{seconds}s` on loopback:
  bare          an `async def` FastAPI endpoint validating two ints and returning a small JSON,
                served by this script itself (`--serve-bare PORT`) with uvicorn's defaults
                (uvloop + httptools when installed, as `rnnlab serve` gets them);
  binary        GET /predict?a=37&b=45 on a default binary-addition model;
  next_word     GET /predict?text=...&k=5 on a next-word model trained for --epochs on
                tinyshakespeare (vocabulary ~3.9k);
  next_word_mixed  the same with 500 different contexts of 1-12 words from the corpus, asked
                in turn: the batched pass then mixes lengths, as real traffic does (after the
                first round every answer comes from the model's answer cache);
  next_word_unique  100,000 different (context, k) queries, none asked twice: every answer
                is a cache miss and goes through the model;
  binary_busy   the binary scenario while a long next-word training job runs.
Targets: binary >= 0.7 x bare, next_word >= 0.5 x bare, p99 <= 20 ms, busy >= 0.5 x binary.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    SHARED,
    emit,
    free_port,
    launch,
    run_wrk,
    service_env,
    start_rnnlab,
    wait_for_job,
    wrk_path,
)

from models.text import preprocess  # after common, which puts the repository on sys.path

SHAKESPEARE = SHARED / "corpora/tinyshakespeare.txt"
DEMO_CORPUS = Path(__file__).resolve().parents[1] / "service/data/demo_corpus.txt"
NEXT_WORD_QUERY = "/predict?text=first%20citizen%20we%20are%20accounted&k=5"
BINARY_QUERY = "/predict?a=37&b=45"
BARE_QUERY = "/add?a=37&b=45"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration per scenario")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--corpus",
        default=str(SHAKESPEARE),
        help="text file for the next-word model, or 'demo' for the built-in one",
    )
    parser.add_argument("--epochs", type=int, default=1, help="of the next-word model")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args()


# --- the baseline: a bare FastAPI app ------------------------------------------------------------


def serve_bare(port: int) -> None:
    """The ceiling: FastAPI's cost of routing, validating two ints and returning a small JSON."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/add")
    async def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_bare(tmp: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    command = [sys.executable, __file__, "--serve-bare", str(port)]
    return launch(command, service_env(tmp, port), port, tmp / "bare.log", health_path=BARE_QUERY)


# --- the rnnlab scenarios ------------------------------------------------------------------------


def train(client, task: str, hyperparams: dict) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/train", json={"task": task, "hyperparams": hyperparams})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def upload_corpus(client, corpus: str) -> int | None:  # type: ignore[no-untyped-def]
    """The corpus id of the next-word model; None means the demo corpus."""
    if corpus == "demo":
        return None
    text = Path(corpus).read_bytes()
    response = client.post(
        "/corpora",
        params={"name": Path(corpus).stem},
        content=text,
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def start_long_job(client, corpus_id: int | None) -> int:  # type: ignore[no-untyped-def]
    """A next-word job that trains for far longer than a wrk run; returns once it is running."""
    hyperparams = {"epochs": 10_000} | ({"corpus_id": corpus_id} if corpus_id else {})
    job = client.post("/train", json={"task": "next_word", "hyperparams": hyperparams}).json()
    while client.get(f"/jobs/{job['id']}").json()["status"] == "queued":
        time.sleep(0.05)
    time.sleep(0.5)  # past the job's start-up (corpus load), into the steady training loop
    return job["id"]


def scenario(
    name: str,
    base_url: str,
    path: str,
    args: argparse.Namespace,
    tmp: Path,
    paths: Sequence[str] = (),
) -> dict:
    result = run_wrk(base_url + path, args.threads, args.connections, args.seconds, tmp, paths)
    emit(scenario=name, path=path if not paths else f"{len(paths)} paths in turn", **result)
    return result


def mixed_contexts(corpus: str, count: int = 500) -> list[str]:
    """/predict paths of `count` different (context, k), contexts of 1-12 words from the corpus."""
    text = DEMO_CORPUS.read_text() if corpus == "demo" else Path(corpus).read_text()
    words = text.split()
    rng = random.Random(20261122)
    paths: dict[str, None] = {}  # ordered, without repeats
    while len(paths) < count:
        start, length = rng.randrange(len(words) - 12), rng.randint(1, 12)
        context = " ".join(words[start : start + length])
        if preprocess(context):  # at least one word the service reads (else: a 400)
            paths[f"/predict?text={quote(context)}&k={rng.randint(1, 10)}"] = None
    return list(paths)


def ratio(name: str, numerator: dict, denominator: dict, target: float) -> None:
    value = numerator["rps"] / denominator["rps"]
    emit(figure=name, ratio=round(value, 3), target=f">= {target}", holds=value >= target)


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if wrk_path() is None:
        emit(serving="skipped: wrk not installed (apt-get install wrk)")
        return
    emit(wrk=f"-t{args.threads} -c{args.connections} -d{args.seconds:g}s")
    with tempfile.TemporaryDirectory(prefix="rnnlab-serving-") as name:
        tmp = Path(name)
        bare = start_bare(tmp)
        try:
            baseline = scenario("bare", bare.base_url, BARE_QUERY, args, tmp)
        finally:
            bare.stop()

        service = start_rnnlab(tmp / "data")
        try:
            with service.client(timeout=600) as client:
                train(client, "binary_addition", {})
                corpus_id = upload_corpus(client, args.corpus)
                train(
                    client,
                    "next_word",
                    {"epochs": args.epochs} | ({"corpus_id": corpus_id} if corpus_id else {}),
                )
                for path in (BINARY_QUERY, NEXT_WORD_QUERY):  # load both into the cache
                    assert client.get(path).status_code == 200
                binary = scenario("binary", service.base_url, BINARY_QUERY, args, tmp)
                next_word = scenario("next_word", service.base_url, NEXT_WORD_QUERY, args, tmp)
                mixed = scenario(
                    "next_word_mixed",
                    service.base_url,
                    NEXT_WORD_QUERY,
                    args,
                    tmp,
                    mixed_contexts(args.corpus),
                )
                unique = scenario(
                    "next_word_unique",
                    service.base_url,
                    NEXT_WORD_QUERY,
                    args,
                    tmp,
                    mixed_contexts(args.corpus, 100_000),
                )
                job_id = start_long_job(client, corpus_id)
                try:
                    busy = scenario("binary_busy", service.base_url, BINARY_QUERY, args, tmp)
                    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
                finally:
                    client.post(f"/jobs/{job_id}/cancel")
        finally:
            service.stop()

    ratio("binary_over_bare", binary, baseline, 0.7)
    ratio("next_word_over_bare", next_word, baseline, 0.5)
    ratio("next_word_mixed_over_bare", mixed, baseline, 0.5)
    ratio("next_word_unique_over_bare", unique, baseline, 0.5)
    ratio("binary_busy_over_binary", busy, binary, 0.5)
    worst = max(r["p99_ms"] for r in (binary, next_word, mixed, unique, busy))
    emit(figure="worst_p99_ms", value=worst, target="<= 20", holds=worst <= 20)


if __name__ == "__main__":
    main()
