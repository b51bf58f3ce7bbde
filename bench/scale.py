"""Next-word LSTM training at 200k, 1M and 10M tokens: tokens/s and peak RSS, a JSON line per size.

Run (each size trains in its own subprocess, so each peak RSS is its own):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/scale.py \\
        [--sizes 200000 1000000 10000000] [--steps 150 | --full-epoch] [--threads 2]

The corpus is synthesised from tinyshakespeare's token ids: pieces of 1,000 consecutive ids taken
at random offsets and concatenated up to the size, so the local statistics are those of the real
text and the vocabulary is the same (3,899 words). The model is the benchmark's (embedding 100,
hidden 128, seq_len 20, batch 64, Adam 0.005, clip 5). ``--steps`` times that many training steps
after 10 warm-up steps (enough for a flat-per-token check; no evaluation); ``--full-epoch`` trains
one whole epoch and evaluates the test fifth, as a job would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.models.parallel import set_train_threads
from rnnlab.models.tasks.next_word import NextWordConfig
from rnnlab.models.tasks.next_word.train import train
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import TrainingHooks, TrainingStopped

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpora/tinyshakespeare.txt"
WARMUP = 10
PIECE = 1000


def emit(**figures: object) -> None:
    print(json.dumps(figures), flush=True)


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def synthesise(ids: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """`size` ids (int32): PIECE-long runs of `ids` from random offsets, concatenated."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - PIECE, -(-size // PIECE))
    return ids[starts[:, None] + np.arange(PIECE)].reshape(-1)[:size].astype(np.int32)


class StepTimer(TrainingHooks):
    """Times steps WARMUP..WARMUP+steps (should_stop is called once per step), then stops."""

    def __init__(self, steps: int | None) -> None:
        self.steps, self.calls = steps, 0
        self.start = self.stop = 0.0
        self.epoch_metrics: dict[str, float] = {}

    def should_stop(self) -> bool:
        self.calls += 1
        if self.calls == WARMUP + 1:
            self.start = time.perf_counter()
        if self.steps is not None and self.calls == WARMUP + self.steps + 1:
            self.stop = time.perf_counter()
            return True
        return False

    def report(self, step, metrics, progress):
        if "loss" not in metrics:  # the epoch's figures, then the test's at the end
            self.epoch_metrics.update(metrics)


def worker(size: int, args: argparse.Namespace) -> None:
    set_train_threads(int(os.environ.get("RNNLAB_TRAIN_THREADS", "1")))  # the bench's --threads
    words = preprocess(args.corpus.read_text(encoding="utf-8"))
    dictionary = build_dictionary(words)
    ids = synthesise(dictionary.encode(words), size)
    del words
    config = NextWordConfig(
        embedding_size=100,
        hidden_size=128,
        seq_len=20,
        batch_size=64,
        learning_rate=0.005,
        clip_norm=5.0,
        epochs=1,
        log_every=10**9,
    )
    rss_before = vm_kib("VmRSS")
    hooks = StepTimer(None if args.full_epoch else args.steps)
    start = time.perf_counter()
    with contextlib.suppress(TrainingStopped):  # --steps: stopped after the timed steps
        train(config, ids, dictionary.size, hooks)
    wall = time.perf_counter() - start
    tokens_per_step = config.batch_size * config.seq_len
    if args.full_epoch:
        tps = hooks.epoch_metrics["tokens_per_second"]
        extra = {
            "seconds": round(wall, 1),
            "test_perplexity": round(hooks.epoch_metrics["test_perplexity"], 1),
        }
    else:
        if hooks.stop == 0.0:
            raise SystemExit(f"{size} tokens: the epoch ended before {args.steps} timed steps")
        tps = args.steps * tokens_per_step / (hooks.stop - hooks.start)
        extra = {"timed_steps": args.steps}
    emit(
        tokens=size,
        tokens_per_second=round(tps),
        microseconds_per_token=round(1e6 / tps, 2),
        rss_before_training_mb=round(rss_before / 1024, 1),
        peak_rss_mb=round(vm_kib("VmHWM") / 1024, 1),
        train_threads=os.environ.get("RNNLAB_TRAIN_THREADS", "1"),
        openblas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
        **extra,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000, 10_000_000])
    # 10 warm-up + 100 timed steps fit in the first epoch of the smallest size (125 steps).
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--full-epoch", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="RNNLAB_TRAIN_THREADS")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args)
        return
    env = dict(os.environ, RNNLAB_TRAIN_THREADS=str(args.threads))
    env.setdefault("OPENBLAS_NUM_THREADS", "1" if args.threads > 1 else "2")
    emit(load_average=os.getloadavg(), steps=None if args.full_epoch else args.steps)
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--worker", str(size), "--corpus", str(args.corpus)]
        cmd += ["--steps", str(args.steps)] + (["--full-epoch"] if args.full_epoch else [])
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
