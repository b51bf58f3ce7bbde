"""An open-loop HTTP load generator: GET requests sent on a fixed schedule, latency counted from
each request's scheduled time. One JSON line.

Run:

    .venv/bin/python bench/openloop.py --url http://127.0.0.1:8000 --rate 1000 --seconds 10 \
        --paths-file paths.txt        # one path per line, asked in turn (or --path /healthz)

wrk keeps a fixed number of requests in flight and sends the next one only when an answer came
back (a closed loop): when the server stalls, wrk stalls with it and the requests it did not send
never count as late, so its percentiles hide the stall ("coordinated omission"). Here request i
is due at start + i / rate whatever happened before: it goes out on an idle keep-alive
connection, or a new one when all are busy, and its latency runs from when it was due, so a
stall of the server, and any lag of this generator itself, shows in the figures (the
generator's own lateness in sending is reported apart). Debian has no wrk2, which does this in C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit


class Connections:
    """Keep-alive HTTP/1.1 connections to one host: an idle one is reused, else a new one."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def get(self, path: str) -> int:
        """GET `path`; the status code (the body is read and dropped)."""
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q / 100 * len(sorted_values)))]


async def run(url: str, paths: Sequence[str], rate: float, seconds: float) -> dict:
    parts = urlsplit(url)
    connections = Connections(parts.hostname or "127.0.0.1", parts.port or 80)
    count = int(rate * seconds)
    latencies: list[float] = []
    send_lag: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def one(path: str, due: float) -> None:
        nonlocal errors
        send_lag.append(time.perf_counter() - due)
        try:
            status = await connections.get(path)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            return
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1

    tasks = set()
    start = time.perf_counter() + 0.05
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(paths[i % len(paths)], due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()
    send_lag.sort()
    ms = lambda s: round(s * 1000, 2)  # noqa: E731
    return {
        "rate": rate,
        "requests": count,
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p90_ms": ms(percentile(latencies, 90)),
        "p99_ms": ms(percentile(latencies, 99)),
        "p999_ms": ms(percentile(latencies, 99.9)),
        "max_ms": ms(latencies[-1]) if latencies else None,
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "errors": errors,
        "connections": connections.opened,
        "send_lag_p99_ms": ms(percentile(send_lag, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="scheme://host:port of the server")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--path", help="one path, asked every time")
    group.add_argument("--paths-file", type=Path, help="paths, one a line, asked in turn")
    args = parser.parse_args()
    paths = [args.path] if args.path else args.paths_file.read_text().split()
    try:
        import uvloop  # uvicorn's loop, when installed: a lighter generator
    except ImportError:
        result = asyncio.run(run(args.url, paths, args.rate, args.seconds))
    else:
        result = uvloop.run(run(args.url, paths, args.rate, args.seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
