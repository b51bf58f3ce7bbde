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
are set (target >= 60% of it). Perplexity after the last epoch: numpy's <= torch's; peak RSS
of the numpy training process <= 250 MiB.
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

from rnnlab.models.parallel import set_train_threads
from rnnlab.models.tasks.next_word import NextWordConfig
from rnnlab.models.tasks.next_word.data import BpttBatches, split_tokens
from rnnlab.models.tasks.next_word.train import train
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import TrainingHooks

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpora/tinyshakespeare.txt"
SPEED_TARGET = 1.5  # numpy's tokens/s over torch's, paired step by step
PEAK_TARGET = 0.6  # a numpy step's matrix-product GFLOP/s over the machine's GEMM peak
RSS_TARGET_MB = 250


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
    """The same for models/: what `rnnlab.models.tasks.next_word.train` does in one step."""
    from rnnlab.models.optim import clip_grads, make_optimizer
    from rnnlab.models.tasks.next_word.model import NextWordModel

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
        from rnnlab.models import parallel

        emit(impl="numpy", train_threads=parallel.TRAIN_THREADS, blas=blas_info())
        train(config, ids, vocab, EpochPrinter())
    else:
        import torch

        emit(impl="torch", torch_version=torch.__version__, torch_threads=torch.get_num_threads())
        run_torch(config, ids, vocab)
    emit(impl=impl, peak_rss_mb=round(peak_rss_mb(), 1))


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


def step_flops(config: NextWordConfig, vocab: int) -> float:
    """The floating-point operations of one training step's matrix products (each weight's
    forward product and its two backward ones): the output layer's and the LSTM's."""
    n = config.batch_size * config.seq_len
    e, h = config.embedding_size, config.hidden_size
    output = 3 * 2 * n * h * vocab
    lstm = 3 * 2 * n * (e + h) * 4 * h
    return float(output + lstm)


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
        cmd = [sys.executable, __file__, "--lockstep-worker", impl, "--corpus", str(args.corpus)]
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


def worker_env(impl: str, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if impl.startswith("gemm-"):  # every core
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[variable] = str(os.cpu_count() or 1)
    elif impl.startswith("torch"):
        env["OPENBLAS_NUM_THREADS"] = "1"  # numpy's, imported by torch, stays idle
        # Whole runs: torch's threads sleep when idle rather than spin, as numpy's do; a
        # spinning pool on a busy host ran several times slower (the paired steps try both).
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        if impl.startswith("torch-"):  # its OpenMP pool no larger than the threads it uses
            threads = impl.removeprefix("torch-")
            env["OMP_NUM_THREADS"] = threads.rstrip("p")
            if threads.endswith("p"):
                env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif impl == "numpy":
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
    last = {
        impl: med(per_epoch(r, "test_perplexity")[epochs - 1] for r in rs)
        for impl, rs in runs.items()
    }
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
