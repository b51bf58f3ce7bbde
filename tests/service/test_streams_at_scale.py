"""Event streams under many clients, over real HTTP and raw sockets against a real service: a cap
on open streams answered 503 beyond it, clients killed mid-stream let go of within seconds, a
long backlog served page by page."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveService

STREAM_TIMEOUT = httpx.Timeout(10.0)  # a stream that stops sending fails the test, never hangs


def open_stream(stack: contextlib.ExitStack, live: LiveService, path: str) -> Iterator[str]:
    """A stream held open until `stack` closes, once its first line (`: connected`) arrived;
    its lines go on from the iterator returned (dropped, it would close the connection)."""
    response = stack.enter_context(live.client.stream("GET", path, timeout=STREAM_TIMEOUT))
    assert response.status_code == 200, response.read()
    lines = response.iter_lines()
    assert next(lines) == ": connected"
    return lines


def stats(live: LiveService) -> dict:
    return live.client.get("/events/stats", timeout=STREAM_TIMEOUT).json()


@pytest.mark.timeout(90)
def test_streams_past_the_cap_are_refused_with_503_and_retry_after(service_factory) -> None:
    live = service_factory(max_open_streams="3")
    job = live.wait_for_job(live.train("binary_addition")["id"])
    job_path = f"/jobs/{job['id']}/events"
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(contextlib.ExitStack())
        held = [open_stream(first, live, "/events")]
        held += [open_stream(stack, live, "/events") for _ in range(2)]
        assert stats(live)["open_streams"] == 3
        for path in ("/events", job_path):  # both routes share the cap
            refused = live.client.get(path, timeout=STREAM_TIMEOUT)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert "RNNLAB_MAX_OPEN_STREAMS=3" in refused.json()["detail"]
        assert live.client.get("/healthz").status_code == 200, "other routes still answer"

        first.close()  # one client leaves: its place is free again
        deadline = time.monotonic() + 5
        while stats(live)["open_streams"] > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = live.client.get(job_path, timeout=STREAM_TIMEOUT)  # a finished job's stream
        assert ended.status_code == 200 and "event: end" in ended.text
    assert stats(live)["max_open_streams"] == 3


# A finished job with a backlog of about 1,200 events (points and teaching records, ~250 kB):
# plain SGD at a step too small to learn, so it runs all its steps.
BACKLOG_JOB = {"optimizer": "sgd", "learning_rate": 1e-9, "iterations": 300, "log_every": 1}
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset, no goodbye


def wait_for(live: LiveService, check, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check(current := stats(live)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return current


def rss_mb(live: LiveService) -> float:
    status = Path(f"/proc/{live.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if "VmRSS" in line)) / 1024


class PeakMemory:
    """The service's largest resident set while the `with` block runs, sampled every 20 ms."""

    def __init__(self, live: LiveService) -> None:
        self.live, self.peak, self.running = live, rss_mb(live), True
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb(self.live))
            time.sleep(0.02)

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.running = False
        self.thread.join(timeout=5)


async def read_streams(live: LiveService, paths: list[str], kill_after: float | None) -> list:
    """Raw connections reading `paths` at once: what each received, to the end of its stream,
    or until `kill_after` seconds, when every connection is reset as a killed client's is."""
    host, port = live.base_url.removeprefix("http://").split(":")
    received: list[bytearray] = [bytearray() for _ in paths]
    writers: list[asyncio.StreamWriter] = []

    async def read(index: int, path: str) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writers.append(writer)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        while chunk := await reader.read(65536):
            received[index] += chunk

    tasks = [asyncio.create_task(read(i, path)) for i, path in enumerate(paths)]
    _, pending = await asyncio.wait(tasks, timeout=kill_after or 60)
    for writer in writers:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        writer.transport.abort()
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return received


@pytest.mark.timeout(180)
def test_clients_killed_mid_stream_are_let_go_within_seconds(service_factory) -> None:
    """Eighty clients reading a long backlog and twenty on /events, killed at once mid-way:
    the service lets go of them within seconds, not once it has served them."""
    live = service_factory()
    job = live.wait_for_job(live.train("binary_addition", **BACKLOG_JOB)["id"], timeout=120)
    paths = [f"/jobs/{job['id']}/events"] * 80 + ["/events"] * 20
    received = asyncio.run(read_streams(live, paths, kill_after=2.0))
    assert all(received), "every client was being served"
    left = wait_for(live, lambda s: s["open_streams"] == 0 and not s["feeds"], 5)
    assert (left["open_streams"], left["subscribers"], left["feeds"]) == (0, 0, [])
    assert "Traceback" not in live.log()


@pytest.mark.timeout(180)
def test_a_hundred_backlogs_at_once_are_served_in_pages_in_bounded_memory(
    service_factory,
) -> None:
    """A hundred clients read a finished job's whole stream at once: each gets all of it, the
    same as one client alone, while the service holds a page or so per client, not a backlog."""
    live = service_factory()
    job = live.wait_for_job(live.train("binary_addition", **BACKLOG_JOB)["id"], timeout=120)
    path = f"/jobs/{job['id']}/events"
    alone = live.client.get(path, timeout=STREAM_TIMEOUT).text
    assert alone.count("event: metric") == 600
    with PeakMemory(live) as memory:
        before = memory.peak
        received = asyncio.run(read_streams(live, [path] * 100, kill_after=None))
    bodies = {bytes(body).split(b"\r\n\r\n", 1)[1] for body in received}
    assert len(bodies) == 1, "every client got the same stream"
    assert dechunked(bodies.pop()) == alone
    assert memory.peak - before < 40, (before, memory.peak)


def dechunked(body: bytes) -> str:
    """An HTTP/1.1 chunked body, its chunks joined."""
    text = bytearray()
    while body:
        size, _, body = body.partition(b"\r\n")
        length = int(size, 16)
        text += body[:length]
        body = body[length + 2 :]
    return text.decode()
