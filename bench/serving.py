"""Serving: GET /predict of a running `rnnlab serve` against a bare FastAPI endpoint under the
same uvicorn, in throughput (`wrk`, a closed loop) and in latency at a fixed offered rate
(`bench/openloop.py`, an open loop). One JSON line per figure.

Run:

    .venv/bin/python bench/serving.py            # wrk -t2 -c50 -d5s per scenario, 3 rounds

Throughput scenarios, each `wrk -t{threads} -c{connections} -d{seconds}s` on loopback, all of
them once per round (--rounds), each right beside a run of the bare endpoint (before it in odd
rounds, after it in even ones): a ratio is taken between neighbours (the host's speed drifts by
10-50% over minutes), then the median over rounds:
  bare          an `async def` FastAPI endpoint validating two ints and returning a small JSON,
                served by this script itself (`--serve-bare PORT`) with uvicorn's defaults
                (uvloop + httptools when installed; `rnnlab serve` runs asyncio's loop with
                httptools, and service/cli/server.py says why);
  binary        GET /predict?a=37&b=45 on a default binary-addition model (target >= 0.85 x bare);
  next_word     GET /predict?text=...&k=5 on a next-word model trained for --epochs on
                tinyshakespeare (vocabulary ~3.9k): one query, an answer-cache hit;
  next_word_mixed  500 different contexts of 3-12 words from the corpus, asked in turn (after the
                first round every answer comes from the model's answer cache);
  next_word_unique  contexts of 3-12 words at random places of the corpus, with k in 1..10,
                none asked twice in the whole run: every answer goes through the model, never
                the answer cache (target >= 0.6 x bare);
  binary_busy   the binary scenario while a long next-word training job runs, beside a bare run.
Latency at a fixed rate: half the bare endpoint's throughput (median over the rounds), for
--latency-seconds, by `bench/openloop.py` (latency from each request's scheduled time): the bare
endpoint, binary, and next-word queries never asked before, idle and while a job trains
(target: p99 <= 10 ms for binary and next word).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from common import (
    SHARED,
    Service,
    emit,
    free_port,
    launch,
    run_wrk,
    service_env,
    start_rnnlab,
    wrk_path,
)
from serving_setup import (
    BINARY_QUERY,
    NEXT_WORD_QUERY,
    contexts,
    start_long_job,
    train_models,
)

SHAKESPEARE = SHARED / "corpora/tinyshakespeare.txt"
BARE_QUERY = "/add?a=37&b=45"
TARGETS = {"binary": 0.85, "next_word_unique": 0.6}  # x the bare endpoint's requests/s
P99_TARGET_MS = 10.0  # at half the bare endpoint's saturated throughput


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="wrk duration per scenario")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--corpus",
        default=str(SHAKESPEARE),
        help="text file for the next-word model, or 'demo' for the built-in one",
    )
    parser.add_argument("--epochs", type=int, default=1, help="of the next-word model")
    parser.add_argument(
        "--unique-queries",
        type=int,
        default=60_000,
        help="never-asked queries per throughput round and per open-loop run",
    )
    parser.add_argument("--rounds", type=int, default=3, help="of the throughput scenarios")
    parser.add_argument("--latency-seconds", type=float, default=10, help="per open-loop run")
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


def scenario(
    name: str,
    base_url: str,
    path: str,
    args: argparse.Namespace,
    tmp: Path,
    paths: Sequence[str] = (),
    **labels: object,
) -> dict:
    result = run_wrk(base_url + path, args.threads, args.connections, args.seconds, tmp, paths)
    where = path if not paths else f"{len(paths)} paths in turn"
    emit(scenario=name, path=where, **labels, **result)
    return result


def open_loop(name: str, base_url: str, paths: Sequence[str], rate: float, args, tmp: Path) -> dict:  # type: ignore[no-untyped-def]
    """`bench/openloop.py` in its own process at `rate` requests/s over `paths` in turn."""
    paths_file = tmp / "openloop-paths.txt"
    paths_file.write_text("\n".join(paths))
    command = [sys.executable, str(Path(__file__).with_name("openloop.py")), "--url", base_url]
    command += ["--rate", f"{rate:.1f}", "--seconds", f"{args.latency_seconds:g}"]
    command += ["--paths-file", str(paths_file)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.splitlines()[-1])
    emit(latency=name, **result)
    return result


def ratio_figure(name: str, values: list[float], target: float | None) -> None:
    value = statistics.median(values)
    figures: dict[str, object] = {"figure": name, "ratio": round(value, 3)}
    figures["rounds"] = [round(v, 3) for v in values]
    if target is not None:
        figures |= {"target": f">= {target}", "holds": value >= target}
    emit(**figures)


def throughput_round(r: int, bare, service, unique: Sequence[str], mixed, args, tmp) -> tuple:  # type: ignore[no-untyped-def]
    """Every throughput scenario once, each right beside a run of the bare endpoint (before it
    in odd rounds, after it in even ones): ({scenario: its requests/s over the bare one's},
    the bare runs' requests/s)."""
    rnnlab = {
        "binary": (BINARY_QUERY, ()),
        "next_word": (NEXT_WORD_QUERY, ()),
        "next_word_mixed": (NEXT_WORD_QUERY, mixed),
        "next_word_unique": (NEXT_WORD_QUERY, unique),
    }
    ratios, bare_rps = {}, []
    for name, (path, paths) in rnnlab.items():
        runs = {}
        for side in ("bare", name) if r % 2 else (name, "bare"):
            if side == "bare":
                runs[side] = scenario("bare", bare.base_url, BARE_QUERY, args, tmp, round=r)
            else:
                runs[side] = scenario(name, service.base_url, path, args, tmp, paths, round=r)
        ratios[name] = runs[name]["rps"] / runs["bare"]["rps"]
        bare_rps.append(runs["bare"]["rps"])
    return ratios, bare_rps


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if wrk_path() is None:
        emit(serving="skipped: wrk not installed (apt-get install wrk)")
        return
    emit(
        wrk=f"-t{args.threads} -c{args.connections} -d{args.seconds:g}s",
        rounds=args.rounds,
        load_average=os.getloadavg(),
    )
    # Never-asked queries: a share per throughput round, two for the open loop (idle, busy).
    per_share = args.unique_queries
    unique = contexts(args.corpus, per_share * (args.rounds + 2), seed=20261202)
    shares = [unique[i * per_share : (i + 1) * per_share] for i in range(args.rounds + 2)]
    mixed = contexts(args.corpus, 500, seed=20261122)
    with tempfile.TemporaryDirectory(prefix="rnnlab-serving-") as name:
        tmp = Path(name)
        bare = start_bare(tmp)
        service = start_rnnlab(tmp / "data")
        try:
            with service.client(timeout=600) as client:
                corpus_id = train_models(client, args)
                rounds = [
                    throughput_round(r + 1, bare, service, shares[r], mixed, args, tmp)
                    for r in range(args.rounds)
                ]
                bare_rps = [rps for _, runs in rounds for rps in runs]
                rate = 0.5 * statistics.median(bare_rps)
                emit(figure="bare_rps", median=statistics.median(bare_rps), runs=bare_rps)
                latency = {
                    "bare": open_loop("bare", bare.base_url, [BARE_QUERY], rate, args, tmp),
                    "binary": open_loop(
                        "binary", service.base_url, [BINARY_QUERY], rate, args, tmp
                    ),
                    "next_word_unique": open_loop(
                        "next_word_unique", service.base_url, shares[-2], rate, args, tmp
                    ),
                }
                busy_ratio, busy_latency = while_a_job_trains(
                    client, corpus_id, (bare, service), shares[-1], rate, args, tmp
                )
        finally:
            service.stop()
            bare.stop()
    report(rounds, busy_ratio, latency | busy_latency)


def while_a_job_trains(
    client: httpx.Client,
    corpus_id: int | None,
    servers: tuple[Service, Service],
    share: list[str],
    rate: float,
    args: argparse.Namespace,
    tmp: Path,
) -> tuple[float, dict[str, dict]]:
    """Binary throughput over bare's, and both open loops, while a long next-word job trains."""
    bare, service = servers
    job_id = start_long_job(client, corpus_id)
    try:
        busy = scenario("binary_busy", service.base_url, BINARY_QUERY, args, tmp)
        busy_bare = scenario("bare", bare.base_url, BARE_QUERY, args, tmp)
        latency = {
            "binary_busy": open_loop(
                "binary_busy", service.base_url, [BINARY_QUERY], rate, args, tmp
            ),
            "next_word_unique_busy": open_loop(
                "next_word_unique_busy", service.base_url, share, rate, args, tmp
            ),
        }
        assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
    finally:
        client.post(f"/jobs/{job_id}/cancel")
    return busy["rps"] / busy_bare["rps"], latency


def report(rounds: list, busy_ratio: float, latency: dict[str, dict]) -> None:
    for name in ("binary", "next_word", "next_word_mixed", "next_word_unique"):
        ratio_figure(f"{name}_over_bare", [r[name] for r, _ in rounds], TARGETS.get(name))
    ratio_figure("binary_busy_over_bare", [busy_ratio], None)
    for name, result in latency.items():
        figures: dict[str, object] = {"figure": "open_loop_p99_ms", "of": name}
        figures |= {"rate": result["rate"], "p99_ms": result["p99_ms"]}
        if name != "bare":
            figures |= {
                "target": f"<= {P99_TARGET_MS:g}",
                "holds": result["p99_ms"] <= P99_TARGET_MS,
            }
        emit(**figures)


if __name__ == "__main__":
    main()
