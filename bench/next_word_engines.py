"""The two engines bench/next_word.py compares, set up alike: the corpus, the configuration, one
training step of models/ and of torch.nn.LSTM, the FLOPs of a step, and the threads each runs
with. Imported by the benchmark's processes, never run by itself."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from rnnlab.models.tasks.next_word import NextWordConfig
from rnnlab.models.text import build_dictionary, preprocess


def emit(**figures: object) -> None:
    # Not bench/common's: a training process stays free of its HTTP client, whose import would
    # count in the peak RSS it reports.
    print(json.dumps(figures), flush=True)


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
        restore_best=False,  # the test of the last weights, as torch's
    )


def step_flops(config: NextWordConfig, vocab: int) -> float:
    """The floating-point operations of one training step's matrix products (each weight's
    forward product and its two backward ones): the output layer's and the LSTM's."""
    n = config.batch_size * config.seq_len
    e, h = config.embedding_size, config.hidden_size
    output = 3 * 2 * n * h * vocab
    lstm = 3 * 2 * n * (e + h) * 4 * h
    return float(output + lstm)


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
