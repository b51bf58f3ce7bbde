"""Corpus uploads in bounded memory: the server's peak RSS while it takes a corpus, over its idle
size, against the body's size. One JSON line per figure.

Run:

    .venv/bin/python bench/upload_memory.py [--sizes-mb 40 400] [--concurrent 3]

The text is generated (a seeded Zipf draw over 20,000 made-up words, lines of 12 words), so the
benchmark needs nothing beside the repository. The peak is the kernel's own high-water mark of
the server process (VmHWM in /proc/<pid>/status), reset before each upload by writing 5 to
/proc/<pid>/clear_refs; the idle size is VmRSS just before. Target: the peak at most 3x the body
over the idle size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, start_rnnlab

TARGET_RATIO = 3.0
MB = 1024 * 1024


def write_corpus(path: Path, size_bytes: int, seed: int = 0) -> int:
    """Write about `size_bytes` of generated English-like text to `path`; return its size."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocabulary = [
        "".join(rng.choice(letters, size=length)) for length in rng.integers(2, 10, size=20_000)
    ]
    words_per_chunk = 120_000
    with path.open("w", encoding="utf-8") as file:
        while file.tell() < size_bytes:
            ids = np.minimum(rng.zipf(1.3, size=words_per_chunk) - 1, len(vocabulary) - 1)
            lines = (
                " ".join(vocabulary[i] for i in ids[start : start + 12])
                for start in range(0, words_per_chunk, 12)
            )
            file.write("\n".join(lines) + "\n")
    return path.stat().st_size


def kib_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{name} not in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Make VmHWM start again from the current RSS (Linux's clear_refs, value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def upload(base_url: str, path: Path, results: list[int], timeout: float = 1800) -> None:
    import httpx

    with path.open("rb") as body, httpx.Client(base_url=base_url, timeout=timeout) as client:
        reply = client.post(
            "/corpora",
            params={"name": path.stem},
            content=body,
            headers={"content-type": "text/plain"},
        )
    results.append(reply.status_code)


def measure(service_url: str, pid: int, files: list[Path], label: str) -> None:
    time.sleep(1)  # let the server settle after the previous upload
    idle = kib_field(pid, "VmRSS")
    reset_peak(pid)
    results: list[int] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=upload, args=(service_url, f, results)) for f in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    peak = kib_field(pid, "VmHWM")
    body = sum(f.stat().st_size for f in files)
    ratio = (peak - idle) / body
    emit(
        figure=f"upload_peak_over_idle_{label}",
        uploads=len(files),
        statuses=sorted(results),
        body_mb=round(body / MB, 1),
        idle_mb=round(idle / MB, 1),
        peak_mb=round(peak / MB, 1),
        seconds=round(seconds, 1),
        ratio=round(ratio, 2),
        target=TARGET_RATIO,
        holds=ratio <= TARGET_RATIO,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[40, 400])
    parser.add_argument(
        "--concurrent", type=int, default=3, help="then this many 40 MB uploads at once"
    )
    args = parser.parse_args()
    largest = max([*args.sizes_mb, 40]) * MB
    with tempfile.TemporaryDirectory(prefix="rnnlab-upload-") as name:
        root = Path(name)
        service = start_rnnlab(
            root / "data",
            max_upload_bytes=str(2 * largest),
            max_concurrent_uploads=str(max(args.concurrent, 1)),
        )
        try:
            pid = service.process.pid
            for size_mb in args.sizes_mb:
                path = root / f"corpus{size_mb}mb.txt"
                write_corpus(path, size_mb * MB, seed=size_mb)
                measure(service.base_url, pid, [path], f"{size_mb}mb")
                path.unlink()
            if args.concurrent > 1:
                files = []
                for copy in range(args.concurrent):
                    path = root / f"concurrent{copy}.txt"
                    write_corpus(path, 40 * MB, seed=copy)
                    files.append(path)
                measure(service.base_url, pid, files, f"{args.concurrent}x40mb")
        finally:
            service.stop()


if __name__ == "__main__":
    main()
