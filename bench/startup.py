"""Start-up: from launching `rnnlab serve` to the first 200 on /healthz, median of a few runs.
One JSON line per figure.

Run:

    .venv/bin/python bench/startup.py [--runs 5]

Each run uses a new, empty data directory (migrations and the demo corpus included: the slowest
start) unless --reuse keeps one directory for all runs (a restart).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, median, ms, rnnlab_command, start_rnnlab

TARGET_SECONDS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="one data directory for all runs")
    args = parser.parse_args()
    emit(command=" ".join(rnnlab_command()), runs=args.runs, fresh_data_dir=not args.reuse)
    seconds = []
    with tempfile.TemporaryDirectory(prefix="rnnlab-startup-") as name:
        for run in range(args.runs):
            data_dir = Path(name) / ("data" if args.reuse else f"data{run}")
            service = start_rnnlab(data_dir)
            service.stop()
            seconds.append(service.healthy_after)
            emit(run=run + 1, healthy_after_ms=ms(service.healthy_after))
    value = median(seconds)
    emit(
        figure="startup_to_healthy",
        median_ms=ms(value),
        min_ms=ms(min(seconds)),
        max_ms=ms(max(seconds)),
        target_ms=TARGET_SECONDS * 1000,
        holds=value <= TARGET_SECONDS,
    )


if __name__ == "__main__":
    main()
