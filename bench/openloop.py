"""An open-loop HTTP load generator: GET requests sent on a fixed schedule, latency counted from
each request's scheduled time. One JSON line.

Run:

    .venv/bin/python bench/openloop.py --url http://127.0.0.1:8000 --rate 1000 --seconds 10 \
        --paths-file paths.txt        # one path per line, asked in turn (or --path /healthz)

wrk keeps a fixed number of requests in flight and sends the next one only when an answer came
back (a closed loop): when the server stalls, wrk stalls with it and the requests it did not send
never count as late, so its percentiles hide the stall ("coordinated omission"). Here request i
is due at start + i / rate whatever happened before: it goes out on the first free one of
--connections keep-alive connections, and its latency runs from when it was due, so a
stall of the server, and any lag of this generator itself, shows in the figures (the
generator's own lateness in sending is reported apart). Requests still unanswered DRAIN_SECONDS
after the last send (an overloaded server) count with the latency they have by then, and are
reported as unanswered. Debian has no wrk2, which does this in C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

DRAIN_SECONDS = 10  # after the last send, how long answers are awaited


class Client(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: a GET at a time, the answer parsed as it arrives."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.due = 0.0  # the scheduled time of the request in flight

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, path: str, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(self.load.request(path))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end]
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        self.load.answered(self, int(head[9:12]), self.due)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.lost(self)


class Load:
    """Requests due at start + i / rate on a fixed pool of connections (as wrk2's -c): a request
    due while every connection is busy waits for the first free one, and its wait counts in its
    latency. (Opening a new connection instead turned a stall into a storm of connects.)
    Written on asyncio's protocols, not streams or a task per request: the generator shares the
    machine with the server, so it must cost little per request."""

    def __init__(self, host: str, paths: Sequence[str]) -> None:
        self.host, self.paths = host, paths
        self.clients: list[Client] = []
        self.free: list[Client] = []
        self.waiting: deque[tuple[str, float]] = deque()
        self.latencies: list[float] = []
        self.send_lag: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.outstanding = 0
        self.done = asyncio.Event()

    def request(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()

    def submit(self, path: str, due: float) -> None:
        self.outstanding += 1
        self.send_lag.append(time.perf_counter() - due)
        if self.free:
            self.free.pop().send(path, due)
        else:
            self.waiting.append((path, due))

    def answered(self, client: Client, status: int, due: float) -> None:
        self.latencies.append(time.perf_counter() - due)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self._next(client)

    def lost(self, client: Client) -> None:
        if client.due:  # a request was in flight
            self.errors += 1
            self._finished()
        if client in self.free:
            self.free.remove(client)

    def _next(self, client: Client) -> None:
        self._finished()
        client.due = 0.0
        if self.waiting:
            client.send(*self.waiting.popleft())
        else:
            self.free.append(client)

    def _finished(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0:
            self.done.set()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q / 100 * len(sorted_values)))]


async def run(
    url: str, paths: Sequence[str], rate: float, seconds: float, connection_count: int
) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    load = Load(host, paths)
    for _ in range(connection_count):
        _, client = await loop.create_connection(lambda: Client(load), host, port)
        load.free.append(client)
        load.clients.append(client)
    count = int(rate * seconds)
    start = time.perf_counter() + 0.05
    sent = 0
    while sent < count:  # each turn sends every request due by now
        now = time.perf_counter()
        while sent < count and start + sent / rate <= now:
            load.submit(paths[sent % len(paths)], start + sent / rate)
            sent += 1
        if sent < count:
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    unanswered = 0
    if load.outstanding:
        try:
            await asyncio.wait_for(load.done.wait(), DRAIN_SECONDS)
        except TimeoutError:
            # An overloaded server: what is still out counts with the latency it has so far.
            now = time.perf_counter()
            in_flight = [c.due for c in load.clients if c.due]
            late = in_flight + [due for _, due in load.waiting]
            load.latencies.extend(now - due for due in late)
            unanswered = len(late)
    elapsed = time.perf_counter() - start
    latencies = sorted(load.latencies)
    send_lag = sorted(load.send_lag)
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
        "non_2xx": sum(n for status, n in load.statuses.items() if not 200 <= status < 300),
        "errors": load.errors,
        "unanswered": unanswered,
        "connections": connection_count,
        "send_lag_p99_ms": ms(percentile(send_lag, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="scheme://host:port of the server")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50, help="kept open, as wrk2's -c")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--path", help="one path, asked every time")
    group.add_argument("--paths-file", type=Path, help="paths, one a line, asked in turn")
    args = parser.parse_args()
    paths = [args.path] if args.path else args.paths_file.read_text().split()
    try:
        import uvloop  # uvicorn's loop, when installed: a lighter generator
    except ImportError:
        result = asyncio.run(run(args.url, paths, args.rate, args.seconds, args.connections))
    else:
        result = uvloop.run(run(args.url, paths, args.rate, args.seconds, args.connections))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
