"""What the next-word tests share: a tiny corpus, small settings and a recording hooks object."""

from __future__ import annotations

from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import TrainingHooks

SENTENCE = "the quick brown fox jumps over the lazy dog and runs away "
SMALL = dict(hidden_size=16, embedding_size=8, batch_size=4, seq_len=5, log_every=5)


def corpus(text=SENTENCE, repeat=60):
    words = preprocess(text * repeat)
    d = build_dictionary(words)
    return d.encode(words), d.size


class Recorder(TrainingHooks):
    """Records reports; saves the checkpoint of step `checkpoint_at`; stops at `stop_at`."""

    def __init__(self, checkpoint_at=None, stop_at=None):
        self.reports: list[tuple[int, dict, float]] = []
        self.checkpoints: dict[int, dict] = {}
        self.steps = 0
        self.checkpoint_at = checkpoint_at
        self.stop_at = stop_at

    def report(self, step, metrics, progress):
        self.reports.append((step, dict(metrics), progress))

    def should_stop(self):
        self.steps += 1
        return self.stop_at is not None and self.steps > self.stop_at

    def checkpoint_due(self):
        return self.checkpoint_at is not None and self.steps == self.checkpoint_at

    def save_checkpoint(self, step, state):
        self.checkpoints[step] = {k: v.copy() for k, v in state.items()}
