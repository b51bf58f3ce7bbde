"""Binary addition: time to 100% exact sums on every pair, rnnlab's numpy against torch.nn.RNN,
and a default job's latency through a running service. One JSON line per figure.

Run (OpenBLAS tuning variables set on some machines slow numpy ~1.8x):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/binary_addition.py

Each implementation trains in a process of its own (`--runner numpy`, `bench/binary_torch.py`),
never the two in one: OpenBLAS's spinning threads and a shared allocator slow torch there.

  search     torch's own best settings first, in three stages of --search-seeds seeds each:
             every batch size x learning rate of TORCH_GRID (one thread, checking when a batch is
             all right), every check rule for the fastest --finalists of them, then 1 or 2
             threads for the fastest of those; --no-search races TORCH_FINALISTS instead;
  race       numpy and every torch finalist train seed by seed in turn (numpy seed 0, each
             finalist seed 0, numpy seed 1, ...), so that the machine's drift reaches all alike.
             numpy trains what a default job trains (`rnnlab.models.tasks.binary_addition.train`
             with the default config), on a worker's thread settings;
  ratio      numpy's median time / the fastest finalist's median time (target <= 0.10), with the
             per-seed ratios' spread;
  service    POST /train -> job `succeeded` as a client sees it on a warm service, and its parts
             from the job's timestamps (queue wait, run), median over --jobs default jobs
             (target <= 50 ms).

The search is in bench/torch_search.py, the service's figure in bench/train_latency.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, emit, median, ms
from optional_torch import torch_runs
from torch_search import TORCH_GRID, label, search_torch
from train_latency import bench_service

RATIO_TARGET = 0.10
# The fastest of the grid in the last full search on a 2-vCPU AMD EPYC (AVX-512): --no-search
# races these.
TORCH_FINALISTS = [
    {"batch_size": 256, "learning_rate": 0.05, "check": "batch", "threads": 1},
    {"batch_size": 512, "learning_rate": 0.05, "check": "window", "threads": 1},
    {"batch_size": 256, "learning_rate": 0.05, "check": "window", "threads": 1},
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=7, help="race: runs per implementation")
    parser.add_argument("--jobs", type=int, default=10, help="default jobs through the service")
    parser.add_argument("--search-seeds", type=int, default=3, help="per setting of the grid")
    parser.add_argument("--finalists", type=int, default=3, help="grid settings raced")
    parser.add_argument("--no-search", action="store_true", help="race TORCH_FINALISTS")
    parser.add_argument("--torch-steps", type=int, default=3000, help="give up after this many")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-service", action="store_true")
    parser.add_argument("--worker-nice", help="RNNLAB_WORKER_NICE of the service (default its own)")
    parser.add_argument("--runner", choices=["numpy"], help=argparse.SUPPRESS)
    return parser.parse_args()


# --- the numpy runner: a process that trains default jobs, one per line on stdin ---------------


def numpy_runner() -> None:
    import rnnlab.models.tasks.binary_addition.train as ba
    from rnnlab.models.parallel import set_train_threads

    set_train_threads(int(os.environ.get("RNNLAB_TRAIN_THREADS", "1")))  # a worker's pool

    evaluate = ba.evaluate_set
    evaluations: list[float] = []

    def timed_evaluate(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            evaluations.append(time.perf_counter() - start)

    ba.evaluate_set = timed_evaluate  # counts the exhaustive checks that decide the early stop
    ba.train(ba.BinaryAdditionConfig(seed=10_000))  # warm-up: imports, BLAS, page faults
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        seed = json.loads(line)["seed"]
        evaluations.clear()
        start = time.perf_counter()
        result = ba.train(ba.BinaryAdditionConfig(seed=seed))
        seconds = time.perf_counter() - start
        reached = result.metrics["final_accuracy"] == 1.0
        row = {"seconds": seconds, "steps": result.steps, "reached": reached}
        row |= {"checks": len(evaluations), "check_seconds": sum(evaluations)}
        print(json.dumps(row), flush=True)


class Runner:
    """A runner process: send it a JSON line, read its JSON answer."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.hello = self._read()

    def ask(self, request: dict) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"runner {self.process.args} exited ({self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def runner_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(threads)
    return env


def start_numpy() -> Runner:
    # A worker's settings: BLAS on one thread, the model's own pool on every core.
    env = runner_env(1) | {"RNNLAB_TRAIN_THREADS": str(os.cpu_count() or 1)}
    return Runner([sys.executable, __file__, "--runner", "numpy"], env)


def start_torch() -> Runner:
    # torch sets its own thread count per run; its OpenMP pool may grow to every core.
    env = runner_env(os.cpu_count() or 1)
    env["OPENBLAS_NUM_THREADS"] = "1"  # numpy's, imported by torch, stays idle
    return Runner([sys.executable, str(REPO / "bench/binary_torch.py")], env)


# --- the race ------------------------------------------------------------------------------------


def race(numpy: Runner, torch: Runner | None, finalists: list[dict], args) -> None:  # type: ignore[no-untyped-def]
    numpy_rows: list[dict] = []
    torch_rows: dict[str, list[dict]] = {label(s): [] for s in finalists}
    for seed in range(args.seeds):
        numpy_rows.append(numpy.ask({"seed": seed}))
        for setting in finalists if torch is not None else []:
            row = torch.ask(setting | {"seed": seed, "max_steps": args.torch_steps})
            torch_rows[label(setting)].append(row)
    assert all(r["reached"] for r in numpy_rows), numpy_rows
    numpy_ms = [r["seconds"] * 1000 for r in numpy_rows]
    emit(
        impl="numpy",
        figure="time_to_100pct",
        median_ms=round(median(numpy_ms), 2),
        min_ms=round(min(numpy_ms), 2),
        max_ms=round(max(numpy_ms), 2),
        median_steps=median([r["steps"] for r in numpy_rows]),
        runs=len(numpy_rows),
        exhaustive_checks_per_run=median([r["checks"] for r in numpy_rows]),
        exhaustive_check_ms=ms(median([r["check_seconds"] / r["checks"] for r in numpy_rows])),
    )
    if torch is None:
        return
    best = None
    for setting in finalists:
        rows = torch_rows[label(setting)]
        reached = [r["seconds"] * 1000 if r["reached"] else float("inf") for r in rows]
        figures = {
            "impl": "torch",
            "figure": "time_to_100pct",
            **setting,
            "median_ms": round(median(reached), 2),
            "min_ms": round(min(reached), 2),
            "max_ms": round(max(reached), 2),
            "median_steps": median([r["steps"] for r in rows]),
            "reached": sum(r["reached"] for r in rows),
            "runs": len(rows),
            "exhaustive_checks_per_run": median([r["checks"] for r in rows]),
        }
        emit(**figures)
        if best is None or figures["median_ms"] < best[0]["median_ms"]:
            best = (figures, reached)
    assert best is not None
    torch_best, torch_ms = best
    per_seed = sorted(n / t for n, t in zip(numpy_ms, torch_ms, strict=True))
    ratio = median(numpy_ms) / torch_best["median_ms"]
    emit(
        figure="numpy_over_torch",
        ratio=round(ratio, 3),
        per_seed_ratio={
            "median": round(median(per_seed), 3),
            "min": round(per_seed[0], 3),
            "max": round(per_seed[-1], 3),
        },
        torch=label({k: torch_best[k] for k in (*TORCH_GRID, "threads")}),
        target=f"<= {RATIO_TARGET}",
        holds=ratio <= RATIO_TARGET,
    )


def main() -> None:
    args = parse_args()
    if args.runner == "numpy":
        numpy_runner()
        return
    emit(
        env={k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        cpus=os.cpu_count(),
        load_average=os.getloadavg(),
    )
    numpy = start_numpy()
    torch = None
    finalists = TORCH_FINALISTS
    if torch_runs(args.no_torch):
        torch = start_torch()
        emit(torch_version=torch.hello["torch_version"])
        if not args.no_search:
            finalists = search_torch(torch, args)
    try:
        race(numpy, torch, finalists, args)
    finally:
        for runner in (numpy, torch):
            if runner is not None:
                runner.close()
    if args.no_service:
        emit(service="skipped: --no-service")
    else:
        bench_service(args.jobs, args.worker_nice)


if __name__ == "__main__":
    main()
