"""Reproduce the study notes' init x activation table (SEEDS.md section 1) with one sweep.

Run against a service (`make serve` in another terminal):

    python docs/notes_table.py [--url http://127.0.0.1:8000] [--iterations 10000] [--seeds 5]

It POSTs one sweep (the service's own example of it, read from its /openapi.json), waits for
it, prints the table as Markdown and saves the plot beside this file (docs/notes-sweep.svg).
Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path


def call(url: str, method: str = "GET", body: dict | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def sweep_body(url: str, iterations: int, seeds: int) -> dict:
    """The service's own example of the notes' sweep (the one /docs shows for POST /sweeps, kept
    in rnnlab.service.schemas.examples), with this run's iterations and seeds."""
    openapi = json.loads(call(f"{url}/openapi.json"))
    request_body = openapi["paths"]["/sweeps"]["post"]["requestBody"]
    body = request_body["content"]["application/json"]["examples"]["notes"]["value"]
    body["hyperparams"]["iterations"] = iterations
    body["seeds"] = list(range(seeds))
    return body


def table(sweep: dict) -> str:
    lines = [
        "| rank | init | activation | learned (100% of pairs) | steps to 100%: mean ± std "
        "| final accuracy: mean (min) | final loss: mean | diverged | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in sorted(sweep["cells"], key=lambda ranked: (ranked["rank"] is None, ranked["rank"])):
        metrics = cell["metrics"]
        learned = sum(1 for job in cell["jobs"] if job["metrics"].get("final_accuracy") == 1.0)
        steps = metrics.get("steps", {})
        accuracy = metrics.get("final_accuracy", {})
        loss = metrics.get("final_loss", {})
        lines.append(
            f"| {cell['rank']} | {cell['params']['init']} | {cell['params']['activation']} "
            f"| {learned}/{cell['runs']} "
            f"| {steps.get('mean', float('nan')):,.0f} ± {steps.get('std', float('nan')):,.0f} "
            f"| {accuracy.get('mean', float('nan')):.4f} ({accuracy.get('min', float('nan')):.4f}) "
            f"| {loss.get('mean', float('nan')):.4g} | {cell['diverged']} | {cell['failed']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--plot", type=Path, default=Path(__file__).with_name("notes-sweep.svg"))
    args = parser.parse_args()
    body = sweep_body(args.url, args.iterations, args.seeds)
    sweep = json.loads(call(f"{args.url}/sweeps", "POST", body))
    started = time.monotonic()
    while sweep["status"] in ("queued", "running"):
        time.sleep(2)
        sweep = json.loads(call(f"{args.url}/sweeps/{sweep['id']}"))
    print(f"sweep {sweep['id']}: {sweep['status']} in {time.monotonic() - started:.0f} s\n")
    print(table(sweep))
    args.plot.write_bytes(call(f"{args.url}/sweeps/{sweep['id']}/plot.svg"))
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
