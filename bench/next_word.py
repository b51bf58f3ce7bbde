"""Next-word LSTM on tinyshakespeare: numpy (models/) versus torch.nn.LSTM, a JSON line per figure.

Run (OpenBLAS tuning variables set on some machines slow numpy ~1.8x):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/next_word.py \
        [--epochs 3] [--repeat 2] [--threads 2]

Every training runs in its own subprocess (so each peak RSS is its own), numpy and torch
alternating (numpy first in odd repeats, torch first in even ones) because the machine may be
shared; then come the medians over the repeats. ``--paired-steps N`` then has two processes,
numpy's and torch's, take N training steps each in turn: the median of the step-by-step ratios
does not move with the machine's drift, which whole runs alternated minutes apart still feel.
``--threads`` is RNNLAB_TRAIN_THREADS of the numpy run; BLAS then runs single-threaded
(OPENBLAS_NUM_THREADS=1) unless ``--blas-threads``. Both runs use the same pre-processing,
dictionary, train/test split, parallel streams, windows, carried state (truncated BPTT), Adam 0.005
and clipping at norm 5. torch is optional.
"""

from __future__ import annotations

import argparse
import importlib.util
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

from models.parallel import set_train_threads
from models.tasks.next_word import NextWordConfig
from models.tasks.next_word.data import BpttBatches, split_tokens
from models.tasks.next_word.train import train
from models.text import build_dictionary, preprocess
from models.training import TrainingHooks

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpora/tinyshakespeare.txt"


def emit(**figures: object) -> None:
    print(json.dumps(figures), flush=True)


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
        if "test_perplexity" in metrics:
            self.epochs.append(dict(metrics))
            emit(
                impl="numpy",
                epoch=len(self.epochs),
                step=step,
                tokens_per_second=round(metrics["tokens_per_second"]),
                test_perplexity=round(metrics["test_perplexity"], 2),
                test_accuracy=round(metrics["test_accuracy"], 4),
                train_loss=round(metrics["train_loss"], 4),
            )


def torch_trainer(config: NextWordConfig, vocab: int):  # type: ignore[no-untyped-def]
    """The torch reference: (model, step) where step(x, y, state) trains on one window and
    returns the state to carry, detached (truncated BPTT, as ours)."""
    import torch

    torch.manual_seed(config.seed)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(vocab, config.embedding_size)
            self.lstm = torch.nn.LSTM(config.embedding_size, config.hidden_size, batch_first=True)
            self.out = torch.nn.Linear(config.hidden_size, vocab)

        def forward(self, x, state):
            hs, state = self.lstm(self.embed(x), state)
            return self.out(hs), state

    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray, state):  # type: ignore[no-untyped-def]
        x_t, y_t = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, y))
        logits, state = model(x_t, state)
        loss = loss_fn(logits.reshape(-1, vocab), y_t.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        return tuple(s.detach() for s in state)

    return model, step


def numpy_trainer(config: NextWordConfig, vocab: int):  # type: ignore[no-untyped-def]
    """The same for models/: what `models.tasks.next_word.train` does in one step."""
    from models.optim import clip_grads, make_optimizer
    from models.tasks.next_word.model import NextWordModel

    rng = np.random.default_rng(config.seed)
    model = NextWordModel(config, vocab, rng)
    model.set_stateful(True)
    optimizer = make_optimizer(config.optimizer, config.learning_rate)

    def step(x: np.ndarray, y: np.ndarray, state: None) -> None:
        model.train_step(x, y, rng)
        clip_grads(model.grads, config.clip_norm)
        optimizer.update(model.params, model.grads)

    return model, step


def run_torch(config: NextWordConfig, ids: np.ndarray, vocab: int) -> list[dict[str, float]]:
    import torch

    n_train = split_tokens(config, len(ids))
    train_ids, test_ids = ids[:n_train].astype(np.int64), ids[n_train:].astype(np.int64)
    model, step = torch_trainer(config, vocab)
    batches = BpttBatches(train_ids, config.batch_size, config.seq_len)
    streams = max(1, min(config.batch_size, (len(test_ids) - 1) // config.seq_len))
    test_batches = BpttBatches(test_ids, streams, config.seq_len)
    results = []
    for epoch in range(config.epochs):
        model.train()
        state, tokens, start = None, 0, time.perf_counter()
        for k in range(batches.count):
            x, y = batches.get(k)
            state = step(x, y, state)
            tokens += x.size
        elapsed = time.perf_counter() - start
        model.eval()
        loss_sum, hits, count, state = 0.0, 0, 0, None
        with torch.no_grad():
            for k in range(test_batches.count):
                x, y = (torch.from_numpy(np.ascontiguousarray(a)) for a in test_batches.get(k))
                logits, state = model(x, state)
                flat = logits.reshape(-1, vocab)
                loss_sum += float(
                    torch.nn.functional.cross_entropy(flat, y.reshape(-1), reduction="sum")
                )
                hits += int((flat.argmax(1) == y.reshape(-1)).sum())
                count += y.numel()
        figures = {
            "tokens_per_second": tokens / elapsed,
            "test_perplexity": math.exp(loss_sum / count),
            "test_accuracy": hits / count,
        }
        results.append(figures)
        emit(
            impl="torch",
            epoch=epoch + 1,
            tokens_per_second=round(figures["tokens_per_second"]),
            test_perplexity=round(figures["test_perplexity"], 2),
            test_accuracy=round(figures["test_accuracy"], 4),
        )
    return results


def load_corpus(path: Path) -> tuple[np.ndarray, int]:
    words = preprocess(path.read_text(encoding="utf-8"))
    dictionary = build_dictionary(words)
    return dictionary.encode(words), dictionary.size


def bench_config(cell: str, epochs: int) -> NextWordConfig:
    return NextWordConfig(
        cell=cell,
        embedding_size=100,
        hidden_size=128,
        seq_len=20,
        batch_size=64,
        optimizer="adam",
        learning_rate=0.005,
        clip_norm=5.0,
        epochs=epochs,
        log_every=10**9,
    )


def worker(impl: str, args: argparse.Namespace) -> None:
    """One training run in this process: a JSON line per epoch, then its peak RSS."""
    set_train_threads(int(os.environ.get("RNNLAB_TRAIN_THREADS", "1")))  # the bench's --threads
    ids, vocab = load_corpus(args.corpus)
    config = bench_config(args.cell, args.epochs)
    if impl == "numpy":
        from models import parallel

        emit(impl="numpy", train_threads=parallel.TRAIN_THREADS, blas=blas_info())
        train(config, ids, vocab, EpochPrinter())
    else:
        import torch

        emit(impl="torch", torch_version=torch.__version__, torch_threads=torch.get_num_threads())
        run_torch(config, ids, vocab)
    emit(impl=impl, peak_rss_mb=round(peak_rss_mb(), 1))


def lockstep_worker(impl: str, args: argparse.Namespace) -> None:
    """Training steps one at a time, each when a line arrives on stdin; its seconds on stdout."""
    set_train_threads(int(os.environ.get("RNNLAB_TRAIN_THREADS", "1")))  # the bench's --threads
    ids, vocab = load_corpus(args.corpus)
    config = bench_config(args.cell, 1)
    train_ids = ids[: split_tokens(config, len(ids))].astype(np.int64)
    batches = BpttBatches(train_ids, config.batch_size, config.seq_len)
    _, step = (numpy_trainer if impl == "numpy" else torch_trainer)(config, vocab)
    state = None
    print("ready", flush=True)
    for k, _ in enumerate(sys.stdin):
        x, y = batches.get(k % batches.count)
        start = time.perf_counter()
        state = step(x, y, state)
        print(time.perf_counter() - start, flush=True)


def paired_steps(args: argparse.Namespace) -> None:
    """numpy and torch train in two processes that take turns step by step (who goes first
    alternates). A step's time is then compared with the other's of the same moment: the
    machine's drift over seconds and minutes, which moves whole runs by 10-50% on a shared
    host, cancels out of the median of the paired ratios."""
    workers = {}
    for impl in ("numpy", "torch"):
        cmd = [sys.executable, __file__, "--lockstep-worker", impl, "--corpus", str(args.corpus)]
        cmd += ["--cell", args.cell]
        workers[impl] = subprocess.Popen(
            cmd,
            env=worker_env(impl, args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    times: dict[str, list[float]] = {impl: [] for impl in workers}
    try:
        for worker_process in workers.values():
            assert worker_process.stdout is not None
            assert worker_process.stdout.readline().strip() == "ready"
        for k in range(args.paired_steps):
            for impl in ("numpy", "torch") if k % 2 == 0 else ("torch", "numpy"):
                process = workers[impl]
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write("step\n")
                process.stdin.flush()
                times[impl].append(float(process.stdout.readline()))
    finally:
        for process in workers.values():
            process.kill()
    warm = 5 if args.paired_steps > 10 else 0  # the first steps pay for allocations
    numpy_s, torch_s = times["numpy"][warm:], times["torch"][warm:]
    tokens = bench_config(args.cell, 1).batch_size * bench_config(args.cell, 1).seq_len
    med = statistics.median
    emit(
        summary="paired_steps",
        steps=len(numpy_s),
        step_ms={"numpy": round(med(numpy_s) * 1e3, 1), "torch": round(med(torch_s) * 1e3, 1)},
        tokens_per_second={
            "numpy": round(tokens / med(numpy_s)),
            "torch": round(tokens / med(torch_s)),
        },
        tokens_per_second_ratio=round(
            med([t / n for n, t in zip(numpy_s, torch_s, strict=True)]), 3
        ),
    )


def worker_env(impl: str, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if impl == "numpy":
        env["RNNLAB_TRAIN_THREADS"] = str(args.threads)
        blas = args.blas_threads if args.blas_threads else (1 if args.threads > 1 else 2)
        env["OPENBLAS_NUM_THREADS"] = str(blas)
    return env


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
    parser.add_argument("--lockstep-worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
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
    impls = ["numpy"]
    if args.no_torch:
        emit(torch="skipped: --no-torch")
    else:
        if importlib.util.find_spec("torch") is None:
            emit(torch="skipped: not installed")
        else:
            impls.append("torch")
    runs: dict[str, list[list[dict]]] = {impl: [] for impl in impls}
    for r in range(args.repeat):
        for impl in impls if r % 2 == 0 else impls[::-1]:
            runs[impl].append(run_worker(impl, args))
    summarise(runs, args.epochs)
    if args.paired_steps and "torch" in impls:
        paired_steps(args)


def summarise(runs: dict[str, list[list[dict]]], epochs: int) -> None:
    """Medians over the repeats, per epoch: tokens/s (and numpy/torch per repeat), perplexity."""

    def per_epoch(lines: list[dict], key: str) -> list[float]:
        return [line[key] for line in lines if "epoch" in line and key in line]

    def peak(lines: list[dict]) -> float:
        return next(line["peak_rss_mb"] for line in lines if "peak_rss_mb" in line)

    med = statistics.median
    for epoch in range(epochs):
        figures: dict[str, object] = {"summary": "median", "epoch": epoch + 1}
        for key in ("tokens_per_second", "test_perplexity", "test_accuracy"):
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
    emit(summary="peak_rss_mb", **{impl: max(peak(r) for r in rs) for impl, rs in runs.items()})


if __name__ == "__main__":
    main()
