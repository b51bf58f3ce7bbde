"""bench/next_word.py --paired-steps: numpy and torch take training steps in turn, in processes
of their own, with a GEMM peak measured among them (the main docstring there says why)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from next_word_engines import (
    bench_config,
    emit,
    load_corpus,
    numpy_trainer,
    step_flops,
    torch_trainer,
    worker_env,
)

from rnnlab.models.parallel import set_train_threads
from rnnlab.models.tasks.next_word import NextWordConfig
from rnnlab.models.tasks.next_word.data import BpttBatches, split_tokens

SCRIPT = Path(__file__).with_name("next_word.py")  # whose --lockstep-worker runs one side
SPEED_TARGET = 1.5  # numpy's tokens/s over torch's, paired step by step
PEAK_TARGET = 0.6  # a numpy step's matrix-product GFLOP/s over the machine's GEMM peak


def lockstep_worker(impl: str, args: argparse.Namespace) -> None:
    """Training steps one at a time, each when a line arrives on stdin; its seconds on stdout."""
    if impl.startswith("gemm-"):
        gemm_worker(impl.removeprefix("gemm-"), args.gemm_size)
        return
    set_train_threads(int(os.environ.get("RNNLAB_TRAIN_THREADS", "1")))  # the bench's --threads
    ids, vocab = load_corpus(args.corpus)
    config = bench_config(args.cell, 1)
    train_ids = ids[: split_tokens(config, len(ids))].astype(np.int64)
    batches = BpttBatches(train_ids, config.batch_size, config.seq_len)
    if impl.startswith("torch-"):
        import torch

        torch.set_num_threads(int(impl.removeprefix("torch-").rstrip("p")))
    _, step = (numpy_trainer if impl == "numpy" else torch_trainer)(config, vocab)
    state = None
    print("ready", flush=True)
    for k, _ in enumerate(sys.stdin):
        x, y = batches.get(k % batches.count)
        start = time.perf_counter()
        state = step(x, y, state)
        print(time.perf_counter() - start, flush=True)


def gemm_worker(library: str, size: int) -> None:
    """One float32 (size x size) @ (size x size) product on every core per line on stdin; its
    seconds on stdout. The machine's GEMM peak, measured beside the steps it bounds."""
    if library == "torch":
        import torch

        a, b = torch.rand(size, size), torch.rand(size, size)
    else:
        a, b = (np.random.default_rng(0).random((size, size), np.float32) for _ in range(2))
    a @ b  # warm-up: threads, pages
    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        a @ b
        print(time.perf_counter() - start, flush=True)


def paired_steps(args: argparse.Namespace, vocab: int) -> None:
    """numpy and torch train in processes that take turns step by step (who goes first
    alternates). A step's time is then compared with the other's of the same moment: the
    machine's drift over seconds and minutes, which moves whole runs by 10-50% on a shared
    host, cancels out of the median of the paired ratios.

    torch first looks for its own best threading: one process per --torch-threads variant
    (1 thread; 2 threads; 2 threads whose OpenMP pool sleeps instead of spinning, which a busy
    host needs) takes --probe-steps turns, and only the fastest goes on. Every --gemm-every steps
    two more processes take their turn: a large square float32 product on every core with
    numpy's BLAS and with torch's, the faster being the machine's GEMM peak of that moment."""
    torches = [f"torch-{threads}" for threads in args.torch_threads]
    workers = start_lockstep_workers(["numpy", *torches, "gemm-numpy", "gemm-torch"], args)
    probe = min(args.probe_steps, args.paired_steps // 2) if len(torches) > 1 else 0
    try:
        times, fastest = take_turns(workers, torches, probe, args)
    finally:
        for process in workers.values():
            process.kill()
    # The probe's steps (or the first 5) pay for allocations and the choice: not counted.
    warm = max(probe, 5) if args.paired_steps > 10 else 0
    config = bench_config(args.cell, 1)
    emit_paired_steps(times, fastest, warm, config)
    emit_gemm_peak(times, fastest, warm, step_flops(config, vocab), args)


def start_lockstep_workers(
    impls: list[str], args: argparse.Namespace
) -> dict[str, subprocess.Popen]:
    workers = {}
    for impl in impls:
        cmd = [sys.executable, str(SCRIPT), "--lockstep-worker", impl, "--corpus", str(args.corpus)]
        cmd += ["--cell", args.cell, "--gemm-size", str(args.gemm_size)]
        workers[impl] = subprocess.Popen(
            cmd,
            env=worker_env(impl, args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    return workers


def take_turns(
    workers: dict[str, subprocess.Popen], torches: list[str], probe: int, args: argparse.Namespace
) -> tuple[dict[str, list[float]], str]:
    """Every step's seconds by worker, and the torch variant kept after the probe."""

    def turn(impl: str) -> float:
        process = workers[impl]
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("step\n")
        process.stdin.flush()
        return float(process.stdout.readline())

    med = statistics.median
    times: dict[str, list[float]] = {impl: [] for impl in workers}
    trainers = ["numpy", *torches]
    for worker_process in workers.values():
        assert worker_process.stdout is not None
        assert worker_process.stdout.readline().strip() == "ready"
    for step in range(args.paired_steps):
        if step == probe and len(trainers) > 2:
            fastest = min(torches, key=lambda impl: med(times[impl]))
            for impl in torches:
                if impl != fastest:
                    workers[impl].kill()
            trainers = ["numpy", fastest]
            emit(
                summary="torch_threads_probe",
                steps=probe,
                step_ms={impl: round(med(times[impl]) * 1e3, 1) for impl in torches},
                kept=fastest,
            )
        for impl in trainers if step % 2 == 0 else trainers[::-1]:
            times[impl].append(turn(impl))
        if step % args.gemm_every == 0:
            for impl in ("gemm-numpy", "gemm-torch"):
                times[impl].append(turn(impl))
    return times, trainers[1]


def emit_paired_steps(
    times: dict[str, list[float]], fastest: str, warm: int, config: NextWordConfig
) -> None:
    med = statistics.median
    numpy_s = times["numpy"][warm:]
    torch_s = times[fastest][warm:]
    torch_ms = {fastest: round(med(torch_s) * 1e3, 1)}
    tokens = config.batch_size * config.seq_len
    ratios = sorted(
        torch_step / numpy_step for numpy_step, torch_step in zip(numpy_s, torch_s, strict=True)
    )
    ratio = med(ratios)
    emit(
        summary="paired_steps",
        steps=len(numpy_s),
        step_ms={"numpy": round(med(numpy_s) * 1e3, 1), **torch_ms},
        torch=fastest,
        tokens_per_second={
            "numpy": round(tokens / med(numpy_s)),
            "torch": round(tokens / med(torch_s)),
        },
        tokens_per_second_ratio=round(ratio, 3),
        ratio_quartiles=[
            round(ratios[len(ratios) // 4], 3),
            round(ratios[3 * len(ratios) // 4], 3),
        ],
        target=f">= {SPEED_TARGET}",
        holds=ratio >= SPEED_TARGET,
    )


def emit_gemm_peak(
    times: dict[str, list[float]], fastest: str, warm: int, flops: float, args: argparse.Namespace
) -> None:
    """The step against the machine's peak: each GEMM round with the numpy steps around it."""
    med = statistics.median
    numpy_s = times["numpy"][warm:]
    torch_s = times[fastest][warm:]
    gemm = 2.0 * args.gemm_size**3
    fractions, peaks = [], []
    rounds = zip(times["gemm-numpy"], times["gemm-torch"], strict=True)
    for gemm_round, (numpy_gemm, torch_gemm) in enumerate(rounds):
        around = times["numpy"][
            max(warm, gemm_round * args.gemm_every) : (gemm_round + 1) * args.gemm_every
        ]
        peak = gemm / min(numpy_gemm, torch_gemm)
        peaks.append(peak)
        if around:
            fractions.append(flops / med(around) / peak)
    fraction = med(fractions)
    emit(
        summary="gemm_peak",
        size=args.gemm_size,
        rounds=len(peaks),
        peak_gflops={"median": round(med(peaks) / 1e9, 1), "max": round(max(peaks) / 1e9, 1)},
        numpy_gflops=round(gemm / med(times["gemm-numpy"]) / 1e9, 1),
        torch_gflops=round(gemm / med(times["gemm-torch"]) / 1e9, 1),
        step_gflop=round(flops / 1e9, 2),
        numpy_step_gflops=round(flops / med(numpy_s) / 1e9, 1),
        torch_step_gflops=round(flops / med(torch_s) / 1e9, 1),
        numpy_fraction_of_peak=round(fraction, 3),
        fraction_range=[round(min(fractions), 3), round(max(fractions), 3)],
        # The strictest reading: the median step against the fastest product of the whole run.
        numpy_fraction_of_max_peak=round(flops / med(numpy_s) / max(peaks), 3),
        target=f">= {PEAK_TARGET}",
        holds=fraction >= PEAK_TARGET,
    )
