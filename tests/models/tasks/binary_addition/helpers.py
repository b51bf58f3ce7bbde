"""What the binary-addition tests share: the notes' configuration and a recording hooks object."""

from __future__ import annotations

import io

import numpy as np

from rnnlab.models.training import TrainingHooks

NOTES_CONFIG = dict(  # the study notes' run: one sample per step, plain SGD, sigmoid, no biases
    batch_size=1,
    optimizer="sgd",
    learning_rate=0.1,
    activation="sigmoid",
    init="normal",
    init_std=1.0,
    iterations=10_000,
    loss="mse",
    bias=False,
    seed=0,
    log_every=100,
)


class Recorder(TrainingHooks):
    """Records reports; saves a checkpoint at `save_at` and/or asks to stop at `stop_at`."""

    def __init__(self, save_at: int | None = None, stop_at: int | None = None) -> None:
        self.reports: list[tuple[int, dict[str, float], float]] = []
        self.saved: dict[int, dict[str, np.ndarray]] = {}
        self.save_at, self.stop_at = save_at, stop_at
        self.step = 0
        self.fp_modes: set[str] = set()

    def report(self, step, metrics, progress):
        self.reports.append((step, dict(metrics), progress))
        self.fp_modes.add(np.geterr()["over"])  # the caller's numpy error mode, not train()'s

    def should_stop(self):
        return self.stop_at is not None and self.step >= self.stop_at

    def checkpoint_due(self):
        self.step += 1  # checkpoint_due is asked once per completed step
        return self.step == self.save_at

    def save_checkpoint(self, step, state):
        self.saved[step] = state


def npz_round_trip(state):
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
