"""bench/binary_addition.py's search for torch's own best settings (its docstring says how):
TORCH_GRID in three stages, each setting's median over seeds taken in turn."""

from __future__ import annotations

import argparse
import itertools
from typing import TYPE_CHECKING

from common import emit, median, ms

if TYPE_CHECKING:
    from binary_addition import Runner

GIVE_UP = 10  # the search stops a run this many times slower than the stage's fastest
# What torch's search covers: its batch size, Adam's learning rate and when the exhaustive check
# runs (see bench/binary_torch.py); then 1 or 2 threads for the fastest of them.
TORCH_GRID = {
    "batch_size": [32, 64, 128, 256, 512],
    "learning_rate": [0.01, 0.02, 0.05, 0.1],
    "check": ["batch", "window", "every:10", "every:25", "every:50"],
}


def label(setting: dict) -> str:
    return ",".join(f"{name}={value}" for name, value in setting.items())


def torch_medians(torch: Runner, settings: list[dict], seeds: range, max_steps: int) -> list:
    """(median seconds, setting) of each setting, seeds in turn across the settings. A run that
    misses 100% counts as never (inf); so does one slower than GIVE_UP x the fastest run so far
    of the stage, stopped there (two threads spinning on a busy host took many times longer
    than one)."""
    for setting in settings:  # warm-up of each thread count and batch shape
        torch.ask(setting | {"seed": 10_000, "max_steps": 20})
    times: dict[str, list[float]] = {label(s): [] for s in settings}
    fastest = float("inf")
    for seed in seeds:
        for setting in settings:
            limit = {"max_steps": max_steps, "max_seconds": GIVE_UP * fastest}
            row = torch.ask(setting | {"seed": seed} | limit)
            seconds = row["seconds"] if row["reached"] else float("inf")
            times[label(setting)].append(seconds)
            fastest = min(fastest, seconds)
    return sorted(((median(times[label(s)]), s) for s in settings), key=lambda row: row[0])


def search_torch(torch: Runner, args: argparse.Namespace) -> list[dict]:
    """Batch size x learning rate (the check when a batch is all right), then the check rule of
    the best few, then their thread count; the fastest `--finalists` go to the race."""
    emit(torch_search={"grid": TORCH_GRID, "threads": [1, 2], "seeds": args.search_seeds})
    seeds = range(100, 100 + args.search_seeds)  # not the race's seeds
    keep = args.finalists
    stages = [
        (
            "search_batch_lr",
            lambda best: [
                {"batch_size": b, "learning_rate": lr, "check": "batch", "threads": 1}
                for b, lr in itertools.product(
                    TORCH_GRID["batch_size"], TORCH_GRID["learning_rate"]
                )
            ],
        ),
        (
            "search_check",
            lambda best: [s | {"check": c} for s in best for c in TORCH_GRID["check"]],
        ),
        ("search_threads", lambda best: [s | {"threads": t} for s in best for t in (1, 2)]),
    ]
    best: list[dict] = []
    for name, candidates in stages:
        ranked = torch_medians(torch, candidates(best), seeds, args.torch_steps)
        for seconds, setting in ranked:
            gave_up = seconds == float("inf")  # JSON has no infinity: null, and why
            figures = (
                {"median_ms": None, "gave_up": True} if gave_up else {"median_ms": ms(seconds)}
            )
            emit(impl="torch", figure=name, **figures, **setting)
        best = [setting for _, setting in ranked[:keep]]
    return best
