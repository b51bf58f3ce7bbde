"""The torch reference of binary addition: torch.nn.RNN trained until it is exact on all pairs.

This module runs in a process of its own (`python bench/binary_torch.py`), never beside numpy's
training: OpenBLAS's spinning threads and a shared allocator slowed torch by 2-4x when the two
shared a process. It reads one JSON object per line on stdin, a run's settings,

    {"seed": 0, "batch_size": 256, "learning_rate": 0.01, "check": "every:50", "threads": 2}

trains, and answers one JSON line: seconds, steps, whether every pair came out exact, and how many
exhaustive checks ran. A run gives up (not exact) after "max_steps" or "max_seconds", if given.
`bench/binary_addition.py` drives it.

The model is the idiomatic torch one (nn.RNN, hidden 16, tanh, nn.Linear to one logit, Adam,
BCEWithLogitsLoss on random batches of the 16,384 pairs a, b < 128), timed from its construction
to the check that finds every sum exact. `check` says when that exhaustive check runs:
  batch      whenever a whole training batch is right;
  every:N    every N steps;
  window     rnnlab's rule: once at least 128 recent samples are all right, the window
             doubling after each miss (up to 2,048).
"""

from __future__ import annotations

import json
import os
import sys
import time

# numpy is imported by torch itself: keep its BLAS pool to one idle thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch

BITS = 8


def all_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """Every (a, b) with a, b < 128 as inputs (N, 8, 2) and the bits of a + b (N, 8), LSB first."""
    values = torch.arange(2 ** (BITS - 1))
    a = values.repeat_interleave(len(values))
    b = values.repeat(len(values))
    shifts = torch.arange(BITS)
    bits = lambda n: (n[:, None] >> shifts) & 1  # noqa: E731
    inputs = torch.stack([bits(a), bits(b)], dim=2).float()
    return inputs, bits(a + b).bool()


class CheckRule:
    """When the exhaustive check runs (see the module docstring)."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.every = int(rule.split(":")[1]) if rule.startswith("every:") else 0
        self.right = self.seen = 0
        self.window = 128

    def due(self, step: int, right: int, batch: int) -> bool:
        if self.rule == "batch":
            return right == batch
        if self.every:
            return step % self.every == 0
        self.right += right
        self.seen += batch
        if self.seen < self.window:
            return False
        due = self.right == self.seen
        self.right = self.seen = 0
        return due

    def missed(self) -> None:
        if self.rule == "window":
            self.window = min(2 * self.window, 2048)


def train(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    seed: int,
    batch_size: int,
    learning_rate: float,
    check: str,
    max_steps: int,
    max_seconds: float,
) -> dict:
    start = time.perf_counter()
    torch.manual_seed(seed)
    rnn = torch.nn.RNN(2, 16, batch_first=True)  # tanh
    out = torch.nn.Linear(16, 1)
    optimizer = torch.optim.Adam([*rnn.parameters(), *out.parameters()], lr=learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    rule = CheckRule(check)
    checks, check_seconds = 0, 0.0
    for step in range(1, max_steps + 1):
        index = torch.randint(0, inputs.shape[0], (batch_size,), generator=generator)
        x, t = inputs[index], targets[index]
        logits = out(rnn(x)[0])[..., 0]  # (N, T)
        loss = loss_fn(logits, t.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        right = int(((logits > 0) == t).all(dim=1).sum())
        if rule.due(step, right, batch_size):
            checks += 1
            check_start = time.perf_counter()
            with torch.no_grad():
                exact = bool(((out(rnn(inputs)[0])[..., 0] > 0) == targets).all())
            check_seconds += time.perf_counter() - check_start
            if exact:
                return _result(start, step, True, checks, check_seconds)
            rule.missed()
        if time.perf_counter() - start > max_seconds:
            return _result(start, step, False, checks, check_seconds)
    return _result(start, max_steps, False, checks, check_seconds)


def _result(start: float, steps: int, reached: bool, checks: int, check_seconds: float) -> dict:
    return {
        "seconds": time.perf_counter() - start,
        "steps": steps,
        "reached": reached,
        "checks": checks,
        "check_seconds": check_seconds,
    }


def main() -> None:
    inputs, targets = all_pairs()
    print(json.dumps({"ready": True, "torch_version": torch.__version__}), flush=True)
    for line in sys.stdin:
        run = json.loads(line)
        torch.set_num_threads(run["threads"])
        result = train(
            inputs,
            targets,
            run["seed"],
            run["batch_size"],
            run["learning_rate"],
            run["check"],
            run.get("max_steps", 3000),
            run.get("max_seconds", float("inf")),
        )
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
