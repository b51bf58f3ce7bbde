"""The study notes' Keras runs on binary addition (SEEDS.md, section 1) beside rnnlab's.

The notes train Keras SimpleRNN(128, relu) and LSTM(128) layers with dropout 0.5 and recurrent
dropout 0.3 on 10,000 training samples for 5 epochs (batch 2, Adam, MSE) and report per-bit test
accuracy 0.733 and 0.87. This script runs the same protocol (train_samples=10000, epochs=5,
batch_size=2, Adam at Keras' default rate 0.001, MSE) for both cells over five seeds, as one
sweep, against a running service (`rnnlab serve` in another terminal):

    python docs/keras_table.py [--url http://127.0.0.1:8000] [--seeds 5]

It prints the table as Markdown. The test set is every pair of 7-bit operands the training set
does not hold. Dropout and recurrent dropout are sent only when the service's schema has them
(read from its /openapi.json); the table says which were used. A run stops as soon as every one
of the 16,384 pairs is right (stop_at_accuracy 1.0), which Keras' runs never do.
Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request

NOTES = {"rnn": 0.733, "lstm": 0.87}  # the notes' per-bit test accuracy after 5 epochs
PROTOCOL = {
    "binary_dim": 8,
    "hidden_size": 128,
    "train_samples": 10_000,
    "epochs": 5,
    "batch_size": 2,
    "optimizer": "adam",
    "learning_rate": 0.001,
    "loss": "mse",
    "log_every": 500,
    "teaching_views": False,
    "gradient_norms_every": None,
}
CELLS = [{"cell": "rnn", "activation": "relu"}, {"cell": "lstm"}]
DROPOUT = {"dropout": 0.5, "recurrent_dropout": 0.3}


def call(url: str, method: str = "GET", body: dict | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def sweep_body(url: str, seeds: int) -> dict:
    """The protocol, with the notes' dropout where the service's binary addition has it."""
    schemas = json.loads(call(f"{url}/openapi.json"))["components"]["schemas"]
    known = schemas["BinaryAdditionHyperparams"]["properties"]
    dropout = {name: value for name, value in DROPOUT.items() if name in known}
    return {
        "task": "binary_addition",
        "name": "notes-keras-protocol",
        "tags": ["notes"],
        "hyperparams": {**PROTOCOL, **dropout},
        "cells": CELLS,
        "seeds": list(range(seeds)),
        "metric": "test_bit_accuracy",
    }


def spread(summary: dict, digits: int = 3) -> str:
    """mean ± std (min-max) of a metric's summary over the seeds."""
    if not summary:
        return "-"
    return (
        f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f} "
        f"({summary['min']:.{digits}f}-{summary['max']:.{digits}f})"
    )


def table(sweep: dict, hyperparams: dict) -> str:
    dropout = f"{hyperparams.get('dropout', 0)} / {hyperparams.get('recurrent_dropout', 0)}"
    lines = [
        "| cell | units | activation | dropout / recurrent | notes' Keras: per-bit test accuracy "
        "| rnnlab: per-bit test accuracy, mean ± std (min-max) | rnnlab: per-sum test accuracy "
        "| samples seen until every pair was right (mean) | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in sorted(sweep["cells"], key=lambda c: c["index"]):
        params, metrics = cell["params"], cell["metrics"]
        steps = metrics.get("steps", {})
        seen = f"{steps['mean'] * PROTOCOL['batch_size']:,.0f}" if steps else "-"
        lines.append(
            f"| {params['cell']} | {PROTOCOL['hidden_size']} "
            f"| {params.get('activation', 'tanh')} | {dropout} | {NOTES[params['cell']]} "
            f"| {spread(metrics.get('test_bit_accuracy', {}))} "
            f"| {spread(metrics.get('test_accuracy', {}))} | {seen} "
            f"| {cell['succeeded']}/{cell['runs']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    body = sweep_body(args.url, args.seeds)
    sweep = json.loads(call(f"{args.url}/sweeps", "POST", body))
    started = time.monotonic()
    while sweep["status"] in ("queued", "running"):
        time.sleep(2)
        sweep = json.loads(call(f"{args.url}/sweeps/{sweep['id']}"))
    print(f"sweep {sweep['id']}: {sweep['status']} in {time.monotonic() - started:.0f} s\n")
    print(table(sweep, body["hyperparams"]))


if __name__ == "__main__":
    main()
