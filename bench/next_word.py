"""Next-word LSTM on tinyshakespeare: numpy (models/) versus torch.nn.LSTM, a JSON line per figure.

Run (OpenBLAS tuning variables set on some machines slow numpy ~1.8x):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/next_word.py \
        [--epochs 3] [--repeat 2] [--threads 2]

Every training runs in its own subprocess (so each peak RSS is its own), numpy and torch
alternating (numpy first in odd repeats, torch first in even ones) because the machine may be
shared; then come the medians over the repeats. ``--paired-steps N`` then has two processes,
numpy's and torch's, take N training steps each in turn: the median of the step-by-step ratios
does not move with the machine's drift, which whole runs alternated minutes apart still feel
(target >= 1.5x). Two more processes take turns among them every ``--gemm-every`` steps: a
large square float32 product on every core (numpy's BLAS and torch's), the machine's GEMM peak
of that moment, against which a numpy step's matrix products (their FLOPs over the step's time)
are set (target >= 60% of it). Validation perplexity after each epoch, test perplexity once
after the last (of the last weights: restore_best off): numpy's <= torch's; peak RSS of the
numpy training process <= 250 MiB.
``--threads`` is RNNLAB_TRAIN_THREADS of the numpy run; BLAS then runs single-threaded
(OPENBLAS_NUM_THREADS=1) unless ``--blas-threads``. Both runs use the same pre-processing,
dictionary, train/validation/test split, parallel streams, windows, carried state (truncated
BPTT), Adam 0.005 and clipping at norm 5. torch is optional.

The two engines, set up alike, are in bench/next_word_engines.py; the paired steps in
bench/paired_steps.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.models.parallel import set_train_threads
from rnnlab.models.tasks.next_word import NextWordConfig
from rnnlab.models.tasks.next_word.data import BpttBatches, split_ids
from rnnlab.models.tasks.next_word.train import train
from rnnlab.models.training import TrainingHooks

sys.path.insert(0, str(Path(__file__).resolve().parent))  # as `python bench/next_word.py` has it

from next_word_engines import bench_config, emit, load_corpus, torch_trainer, worker_env
from optional_torch import torch_runs
from paired_steps import lockstep_worker, paired_steps

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpora/tinyshakespeare.txt"
RSS_TARGET_MB = 250


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def blas_info() -> list[dict[str, object]]:
    """Which BLAS numpy runs, its kernel (architecture) and thread count, when threadpoolctl is
    installed (bench only: models/ never imports it)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"threadpoolctl": "not installed"}]
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: d.get(k) for k in keys} for d in threadpool_info()]


class EpochPrinter(TrainingHooks):
    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def report(self, step, metrics, progress):
        if "train_loss" in metrics:
            self.epochs.append(dict(metrics))
            emit(
                impl="numpy",
                epoch=len(self.epochs),
                step=step,
                tokens_per_second=round(metrics["tokens_per_second"]),
                validation_perplexity=round(metrics["validation_perplexity"], 2),
                validation_accuracy=round(metrics["validation_accuracy"], 4),
                train_loss=round(metrics["train_loss"], 4),
            )
        elif "test_perplexity" in metrics:  # once, at the end
            emit(
                impl="numpy",
                test_perplexity=round(metrics["test_perplexity"], 2),
                test_accuracy=round(metrics["test_accuracy"], 4),
            )


def torch_evaluate(model, config: NextWordConfig, ids: np.ndarray, vocab: int) -> tuple:
    """(perplexity, top-1 accuracy) of a held-out split, in the windows numpy reads."""
    import torch

    streams = max(1, min(config.batch_size, (len(ids) - 1) // config.seq_len))
    windows = BpttBatches(ids, streams, config.seq_len)
    model.eval()
    loss_sum, hits, count, state = 0.0, 0, 0, None
    with torch.no_grad():
        for k in range(windows.count):
            x, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in windows.get(k))
            logits, state = model(x, state)
            flat = logits.reshape(-1, vocab)
            loss_sum += float(
                torch.nn.functional.cross_entropy(flat, y.reshape(-1), reduction="sum")
            )
            hits += int((flat.argmax(1) == y.reshape(-1)).sum())
            count += y.numel()
    return math.exp(loss_sum / count), hits / count


def run_torch(config: NextWordConfig, ids: np.ndarray, vocab: int) -> list[dict[str, float]]:
    splits = split_ids(config, ids.astype(np.int64))
    model, step = torch_trainer(config, vocab)
    batches = BpttBatches(splits.train, config.batch_size, config.seq_len)
    results = []
    for epoch in range(config.epochs):
        model.train()
        state, tokens, start = None, 0, time.perf_counter()
        for k in range(batches.count):
            x, y = batches.get(k)
            state = step(x, y, state)
            tokens += x.size
        elapsed = time.perf_counter() - start
        perplexity, accuracy = torch_evaluate(model, config, splits.validation, vocab)
        figures = {
            "tokens_per_second": tokens / elapsed,
            "validation_perplexity": perplexity,
            "validation_accuracy": accuracy,
        }
        results.append(figures)
        emit(
            impl="torch",
            epoch=epoch + 1,
            tokens_per_second=round(figures["tokens_per_second"]),
            validation_perplexity=round(perplexity, 2),
            validation_accuracy=round(accuracy, 4),
        )
    perplexity, accuracy = torch_evaluate(model, config, splits.test, vocab)
    emit(impl="torch", test_perplexity=round(perplexity, 2), test_accuracy=round(accuracy, 4))
    return results


def worker(impl: str, args: argparse.Namespace) -> None:
    """One training run in this process: a JSON line per epoch, then its peak RSS."""
    set_train_threads(int(os.environ.get("RNNLAB_TRAIN_THREADS", "1")))  # the bench's --threads
    ids, vocab = load_corpus(args.corpus)
    config = bench_config(args.cell, args.epochs)
    if impl == "numpy":
        from rnnlab.models import parallel

        emit(impl="numpy", train_threads=parallel.TRAIN_THREADS, blas=blas_info())
        train(config, ids, vocab, EpochPrinter())
    else:
        import torch

        emit(impl="torch", torch_version=torch.__version__, torch_threads=torch.get_num_threads())
        run_torch(config, ids, vocab)
    emit(impl=impl, peak_rss_mb=round(peak_rss_mb(), 1))


def run_worker(impl: str, args: argparse.Namespace) -> list[dict]:
    """Run `worker` in a subprocess (its own peak RSS); echo and return its JSON lines."""
    env = worker_env(impl, args)
    cmd = [sys.executable, __file__, "--worker", impl, "--corpus", str(args.corpus)]
    cmd += ["--epochs", str(args.epochs), "--cell", args.cell]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    for line in lines:
        print(json.dumps(line), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    parser.add_argument("--repeat", type=int, default=1, help="numpy/torch pairs, alternated")
    parser.add_argument("--threads", type=int, default=2, help="RNNLAB_TRAIN_THREADS for numpy")
    parser.add_argument("--blas-threads", type=int, default=0, help="0: 1 if --threads > 1")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch reference")
    parser.add_argument(
        "--paired-steps", type=int, default=0, help="then this many steps each, taken in turn"
    )
    parser.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--torch-threads",
        type=lambda text: text.split(","),
        default=["1", "2", "2p"],
        help="paired steps: torch's thread counts tried (2p: OMP_WAIT_POLICY=PASSIVE)",
    )
    parser.add_argument("--probe-steps", type=int, default=10, help="of each torch variant")
    parser.add_argument("--gemm-size", type=int, default=2048, help="of the peak's square product")
    parser.add_argument("--gemm-every", type=int, default=10, help="steps between GEMM rounds")
    parser.add_argument(
        "--lockstep-worker",
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    if args.lockstep_worker:
        lockstep_worker(args.lockstep_worker, args)
        return

    start = time.perf_counter()
    ids, vocab = load_corpus(args.corpus)
    emit(
        corpus=str(args.corpus),
        tokens=len(ids),
        vocabulary_size=vocab,
        preprocess_seconds=round(time.perf_counter() - start, 3),
        load_average=os.getloadavg(),
    )
    impls = ["numpy", "torch"] if torch_runs(args.no_torch) else ["numpy"]
    runs: dict[str, list[list[dict]]] = {impl: [] for impl in impls}
    for repeat in range(args.repeat):
        for impl in impls if repeat % 2 == 0 else impls[::-1]:
            runs[impl].append(run_worker(impl, args))
    if args.repeat:
        summarise(runs, args.epochs)
    if args.paired_steps and "torch" in impls:
        paired_steps(args, vocab)


def summarise(runs: dict[str, list[list[dict]]], epochs: int) -> None:
    """Medians over the repeats, per epoch: tokens/s (and numpy/torch per repeat), perplexity."""

    def per_epoch(lines: list[dict], key: str) -> list[float]:
        return [line[key] for line in lines if "epoch" in line and key in line]

    def peak(lines: list[dict]) -> float:
        return next(line["peak_rss_mb"] for line in lines if "peak_rss_mb" in line)

    med = statistics.median
    for epoch in range(epochs):
        figures: dict[str, object] = {"summary": "median", "epoch": epoch + 1}
        for key in ("tokens_per_second", "validation_perplexity", "validation_accuracy"):
            figures[key] = {
                impl: round(med(per_epoch(r, key)[epoch] for r in rs), 4 if "acc" in key else 1)
                for impl, rs in runs.items()
            }
        if "torch" in runs:  # ratio within each numpy/torch pair, then the median
            ratios = [
                per_epoch(a, "tokens_per_second")[epoch] / per_epoch(b, "tokens_per_second")[epoch]
                for a, b in zip(runs["numpy"], runs["torch"], strict=True)
            ]
            figures["tokens_per_second_ratio"] = round(med(ratios), 2)
            figures["ratios"] = [round(x, 2) for x in ratios]
        emit(**figures)

    def test_perplexity(lines: list[dict]) -> float:  # the one test, after the last epoch
        return next(line["test_perplexity"] for line in lines if "test_perplexity" in line)

    last = {impl: med(test_perplexity(r) for r in rs) for impl, rs in runs.items()}
    if "torch" in runs:
        emit(
            summary="test_perplexity",
            after_epochs=epochs,
            numpy=round(last["numpy"], 1),
            torch=round(last["torch"], 1),
            target="numpy <= torch",
            holds=last["numpy"] <= last["torch"],
        )
    peaks = {impl: max(peak(r) for r in rs) for impl, rs in runs.items()}
    emit(
        summary="peak_rss_mb",
        **peaks,
        target=f"numpy <= {RSS_TARGET_MB}",
        holds=peaks["numpy"] <= RSS_TARGET_MB,
    )


if __name__ == "__main__":
    main()
