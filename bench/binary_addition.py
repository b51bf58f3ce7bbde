"""Binary addition: time to 100% exact sums on every pair, numpy versus torch.nn.RNN, and a default
job's latency through a running service. One JSON line per figure.

Run (OpenBLAS tuning variables set on some machines slow numpy ~1.8x):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/binary_addition.py

Figures:
  numpy      in-process `models.tasks.binary_addition.train` with the default config (what a default
             job trains), median over seeds, with the number and cost of the exhaustive checks;
  torch      torch.nn.RNN (hidden 16, Adam, batch 256, 2 threads) to 100% on all pairs, checked
             exhaustively like ours; skipped when torch is not installed;
  ratio      numpy time / torch time (target <= 0.2); numpy and torch runs alternate seed by
             seed, so that the machine's drift reaches both alike;
  service    POST /train -> job `succeeded` as a client sees it, and its parts from the job's
             timestamps (queue wait, run), median over --jobs default jobs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, median, ms, start_rnnlab


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=7, help="training runs per implementation")
    parser.add_argument("--jobs", type=int, default=10, help="default jobs through the service")
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="numpy BLAS threads (default: a worker's, half the cores)",
    )
    parser.add_argument(
        "--torch-threads",
        default="2,1",
        help="comma-separated; the ratio uses the fastest (2 is the reference; "
        "on a busy 2-core machine 2 threads can be 10x slower than 1)",
    )
    parser.add_argument("--torch-steps", type=int, default=3000, help="give up after this many")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-service", action="store_true")
    parser.add_argument("--worker-nice", help="RNNLAB_WORKER_NICE of the service (default its own)")
    return parser.parse_args()


# --- numpy, in process, and the torch reference, seed by seed in turn ---------------------------
#
# The two alternate run by run (numpy seed 0, torch seed 0 on each thread count, numpy seed 1,
# ...): this machine's speed drifts by 10-25% over minutes, and blocks of runs one after the
# other turned that drift into the ratio (torch's median moved between 206 and 408 ms).


class NumpyRuns:
    """`models.tasks.binary_addition.train` with the default config (what a default job trains),
    counting and timing the evaluations over all 16,384 pairs that decide the early stop (one
    pass over the tree of bit prefixes each; a failing one skips the loss)."""

    def __init__(self) -> None:
        import models.tasks.binary_addition.train as ba

        self.ba = ba
        self.runs: list[tuple[float, int, int, float]] = []
        self._evaluations: list[float] = []
        ba.train(ba.BinaryAdditionConfig(seed=10_000))  # warm-up: imports, BLAS, page faults

    def run(self, seed: int) -> None:
        ba, evaluate = self.ba, self.ba.evaluate_set

        def timed_evaluate(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return evaluate(*args, **kwargs)
            finally:
                self._evaluations.append(time.perf_counter() - start)

        ba.evaluate_set = timed_evaluate
        try:
            self._evaluations.clear()
            start = time.perf_counter()
            result = ba.train(ba.BinaryAdditionConfig(seed=seed))
            seconds = time.perf_counter() - start
        finally:
            ba.evaluate_set = evaluate
        assert result.metrics["final_accuracy"] == 1.0, (seed, result.metrics)
        evaluations = self._evaluations
        self.runs.append((seconds, result.steps, len(evaluations), sum(evaluations)))

    def figures(self) -> dict:
        runs = self.runs
        return {
            "impl": "numpy",
            "figure": "time_to_100pct",
            "median_ms": ms(median([r[0] for r in runs])),
            "median_steps": median([r[1] for r in runs]),
            "min_ms": ms(min(r[0] for r in runs)),
            "runs": len(runs),
            "exhaustive_checks_per_run": median([r[2] for r in runs]),
            "exhaustive_check_ms": ms(median([r[3] / r[2] for r in runs])),
            "exhaustive_checks_share": round(median([r[3] / r[0] for r in runs]), 3),
        }


class TorchRuns:
    """torch.nn.RNN to 100% on every pair, on `threads` threads; None when torch is absent."""

    def __init__(self, torch, threads: int, max_steps: int) -> None:  # type: ignore[no-untyped-def]
        self.torch, self.threads, self.max_steps = torch, threads, max_steps
        self.all_x, self.all_t = _all_pairs_torch(torch)
        self.runs: list[tuple[float, int, bool]] = []
        self.run(10_000)  # warm-up
        self.runs.clear()

    def run(self, seed: int) -> None:
        self.torch.set_num_threads(self.threads)
        self.runs.append(_train_torch(self.torch, seed, self.all_x, self.all_t, self.max_steps))

    def figures(self) -> dict | None:
        reached = [r for r in self.runs if r[2]]
        if not reached:
            return None
        return {
            "impl": "torch",
            "figure": "time_to_100pct",
            "torch_version": self.torch.__version__,
            "threads": self.threads,
            "median_ms": ms(median([r[0] for r in reached])),
            "median_steps": median([r[1] for r in reached]),
            "min_ms": ms(min(r[0] for r in reached)),
            "runs": len(self.runs),
            "reached": len(reached),
        }


def _all_pairs_torch(torch):  # type: ignore[no-untyped-def]
    """Every (a, b) with a, b < 128 as inputs (N, 8, 2) and target bits (N, 8), LSB first."""
    from models.tasks.binary_addition.data import evaluation_pairs, make_inputs, to_bits

    a, b = evaluation_pairs(8)
    return (torch.from_numpy(make_inputs(a, b, 8)), torch.from_numpy(to_bits(a + b, 8)).bool())


def _train_torch(torch, seed: int, all_x, all_t, max_steps: int):  # type: ignore[no-untyped-def]
    """Adam on random batches of 256; an exhaustive check whenever a batch is all right."""
    torch.manual_seed(seed)
    rnn = torch.nn.RNN(2, 16, batch_first=True)  # tanh
    out = torch.nn.Linear(16, 1)
    optimizer = torch.optim.Adam([*rnn.parameters(), *out.parameters()], lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    n = all_x.shape[0]
    start = time.perf_counter()
    for step in range(1, max_steps + 1):
        index = torch.randint(0, n, (256,), generator=generator)
        x, t = all_x[index], all_t[index]
        logits = out(rnn(x)[0])[..., 0]  # (N, T)
        loss = loss_fn(logits, t.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ((logits > 0) == t).all(dim=1).all():  # a perfect batch: check every pair
            with torch.no_grad():
                exact = ((out(rnn(all_x)[0])[..., 0] > 0) == all_t).all(dim=1).all()
            if exact:
                return time.perf_counter() - start, step, True
    return time.perf_counter() - start, max_steps, False


# --- through the service ------------------------------------------------------------------------


def bench_service(jobs: int, worker_nice: str | None) -> None:
    from datetime import datetime

    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-") as tmp:
        settings = {} if worker_nice is None else {"worker_nice": worker_nice}
        service = start_rnnlab(Path(tmp), **settings)
        try:
            with service.client() as client:
                _job_latency(client)  # warm-up: the worker's first imports and first job
                rows = [_job_latency(client) for _ in range(jobs)]
        finally:
            service.stop()

    def seconds(a: str, b: str) -> float:
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()

    emit(
        impl="service",
        figure="post_train_to_succeeded",
        worker_nice=worker_nice or "default",
        jobs=len(rows),
        median_ms=ms(median([r[0] for r in rows])),
        min_ms=ms(min(r[0] for r in rows)),
        max_ms=ms(max(r[0] for r in rows)),
        queue_wait_ms=ms(median([seconds(j["created_at"], j["started_at"]) for _, j in rows])),
        run_ms=ms(median([seconds(j["started_at"], j["finished_at"]) for _, j in rows])),
        created_to_finished_ms=ms(
            median([seconds(j["created_at"], j["finished_at"]) for _, j in rows])
        ),
        median_steps=median([j["steps"] for _, j in rows]),
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


def main() -> None:
    args = parse_args()
    # BLAS reads its thread count once, at import: set it before numpy is imported.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    emit(
        env={k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
        numpy_threads=args.threads,
        cpus=os.cpu_count(),
    )
    numpy_runs = NumpyRuns()
    torch_runs: list[TorchRuns] = []
    if args.no_torch:
        emit(torch="skipped: --no-torch")
    else:
        try:
            import torch
        except ImportError:
            emit(torch="skipped: not installed")
        else:
            threads = [int(t) for t in args.torch_threads.split(",")]
            torch_runs = [TorchRuns(torch, t, args.torch_steps) for t in threads]
    for seed in range(args.seeds):
        for runs in [numpy_runs, *torch_runs]:
            runs.run(seed)
    numpy_figures = numpy_runs.figures()
    emit(**numpy_figures)
    torch_figures = None
    for runs in torch_runs:
        figures = runs.figures()
        if figures is None:
            emit(
                impl="torch",
                threads=runs.threads,
                error=f"no seed reached 100% in {args.torch_steps}",
            )
            continue
        emit(**figures)
        if torch_figures is None or figures["median_ms"] < torch_figures["median_ms"]:
            torch_figures = figures
    if torch_figures is not None:
        ratio = numpy_figures["median_ms"] / torch_figures["median_ms"]
        emit(
            figure="numpy_over_torch",
            ratio=round(ratio, 3),
            torch_threads=torch_figures["threads"],
            target="<= 0.2",
            holds=ratio <= 0.2,
        )
    if args.no_service:
        emit(service="skipped: --no-service")
    else:
        bench_service(args.jobs, args.worker_nice)


if __name__ == "__main__":
    main()
