"""What the views that teach cost a training step: the same steps with and without the records,
alternated step by step in one process (two models from one seed, fed the same batches), at the
default settings. One JSON line per task.

Run:

    .venv/bin/python bench/teaching.py [--binary-steps 20000] [--word-steps 600]

`overhead_percent` is the total time with the records over the total without, minus one;
`median_overhead_percent_per_<n>_steps` the median of the same over stretches of n steps (one
gradient trace each), which other processes' interruptions do not sway. The next-word line also
gives the cost of the text generated once per epoch.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, emit

from rnnlab.models.layers.losses import sigmoid_loss
from rnnlab.models.optim import make_optimizer
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import sample_batch
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.teaching import Teacher as AdditionTeacher
from rnnlab.models.tasks.binary_addition.train import train_step
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.data import BpttBatches
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.teaching import Teacher as WordTeacher
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import TrainingHooks

BOTH = (False, True)


class Sink(TrainingHooks):
    """Wants every record (or none) and drops it: the cost measured is the loop's alone."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def wants(self, kind: str) -> bool:
        return self.on


def binary_addition(steps: int) -> dict[bool, list[float]]:
    c = BinaryAdditionConfig()
    rng = np.random.default_rng(0)
    nets = {on: BinaryAdditionNet(c, np.random.default_rng(0)) for on in BOTH}
    optimizers = {on: make_optimizer(c.optimizer, c.learning_rate) for on in BOTH}
    teachers = {on: AdditionTeacher(c, Sink(on)) for on in BOTH}
    loss_fn = sigmoid_loss(c.loss)
    times: dict[bool, list[float]] = {on: [] for on in BOTH}
    for step in range(1, steps + 1):
        xs, ts = sample_batch(rng, c.batch_size, c.binary_dim)
        for on in BOTH if step % 2 else BOTH[::-1]:  # who goes first alternates
            net, teacher = nets[on], teachers[on]
            start = time.perf_counter()
            trace = partial(teacher.trace, net, step=step) if teacher.traces_at(step) else None
            train_step(net, optimizers[on], loss_fn, c.clip_norm, xs, ts, step, trace)
            hits = (net.logits > 0) == ts  # type: ignore[operator]
            teacher.count(hits)
            if step % c.log_every == 0:
                teacher.log(net, step)
            times[on].append(time.perf_counter() - start)
    return times


def next_word(steps: int) -> tuple[dict[bool, list[float]], float]:
    c = NextWordConfig()
    words = preprocess((SHARED / "corpora" / "tinyshakespeare.txt").read_text(encoding="utf-8"))
    dictionary = build_dictionary(words)
    ids = dictionary.encode(words)
    batches = BpttBatches(ids, c.batch_size, c.seq_len)
    models = {on: NextWordModel(c, dictionary.size, np.random.default_rng(0)) for on in BOTH}
    optimizers = {on: make_optimizer(c.optimizer, c.learning_rate) for on in BOTH}
    teachers = {on: WordTeacher(c, Sink(on), ids[:5], dictionary.words) for on in BOTH}
    rngs = {on: np.random.default_rng(1) for on in BOTH}
    times: dict[bool, list[float]] = {on: [] for on in BOTH}
    for model in models.values():
        model.set_stateful(True)
    for step in range(1, steps + 1):
        x, y = batches.get(step % batches.count)
        for on in BOTH if step % 2 else BOTH[::-1]:
            model, teacher = models[on], teachers[on]
            start = time.perf_counter()
            trace = teacher.traces_at(step)
            model.train_step(x, y, rngs[on], trace)
            optimizers[on].update(model.params, model.grads)
            if trace:
                teacher.record_trace(model, step)
            times[on].append(time.perf_counter() - start)
    start = time.perf_counter()
    teachers[True].generate(models[True], steps, 1)
    return times, time.perf_counter() - start


def figures(task: str, times: dict[bool, list[float]], every: int) -> dict[str, object]:
    without, with_ = np.array(times[False]), np.array(times[True])
    n = len(without) // every * every  # whole stretches of `every` steps (one view of each kind)
    stretches = with_[:n].reshape(-1, every).sum(1) / without[:n].reshape(-1, every).sum(1)
    return {
        "task": task,
        "steps": len(without),
        "step_ms_without": round(without.mean() * 1e3, 4),
        "step_ms_with": round(with_.mean() * 1e3, 4),
        "overhead_percent": round((with_.sum() / without.sum() - 1) * 100, 2),
        "median_paired_ratio": round(float(np.median(with_ / without)), 4),
        # robust to the other processes' interruptions, which land in one arm or the other
        f"median_overhead_percent_per_{every}_steps": round(
            (float(np.median(stretches)) - 1) * 100, 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary-steps", type=int, default=20_000)
    parser.add_argument("--word-steps", type=int, default=600)
    args = parser.parse_args()
    every = BinaryAdditionConfig().gradient_norms_every or 1  # a multiple of log_every
    emit(**figures("binary_addition", binary_addition(args.binary_steps), every))
    times, generate_seconds = next_word(args.word_steps)
    every = min(NextWordConfig().gradient_norms_every or 1, len(times[False]))
    emit(
        **figures("next_word", times, every), generate_ms_per_epoch=round(generate_seconds * 1e3, 2)
    )


if __name__ == "__main__":
    main()
