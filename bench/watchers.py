"""/predict beside event-stream watchers: p50/p99 of a binary-addition /predict with 0, 100 and 500
watchers open, how soon the service lets go of watchers killed without a goodbye, and a
finished job's backlog replayed to many clients at once. One JSON line per figure.

Run:

    .venv/bin/python bench/watchers.py [--watchers 0,100,500] [--requests 3000] \
        [--replay-clients 200]

The watchers live in a process of their own (this script with --hold): 4 in 5 follow a running
job's stream, 1 in 5 follow /events, each reading and discarding what it is sent. The running job
is a binary-addition job that cannot converge (SGD, learning rate 1e-9), so it stores points
all along (every 20 steps: a few dozen points and records a second). /predict is asked from
this process, one request at a time on one keep-alive connection of a plain socket (an HTTP
client library would add its own time to every figure). After each round the watchers' process
is killed (SIGKILL: its sockets close without a goodbye) and `released_after_s` is how long
/events/stats still counted them. The service's memory is its resident set (VmRSS), from /proc.

The replay: a finished job of about 2,000 events (points and teaching records), streamed from its
start to its end to `--replay-clients` clients at once; `seconds` is how long until the last one
had its `end`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Service, emit, free_port, launch, ms, service_env, wait_for_job

TARGET_P99_RATIO = 2.0  # 500 watchers cost /predict's p99 at most this factor
# Plain SGD at a step too small to learn: the job neither converges nor ends while measured.
STILL = {"optimizer": "sgd", "learning_rate": 1e-9}
RUNNING_JOB = {**STILL, "iterations": 10_000_000, "log_every": 20}
REPLAY_JOB = {**STILL, "iterations": 500, "log_every": 1}
PAIRS = [(a, b) for a in (3, 37, 64, 100, 127) for b in (1, 45, 90)]
RELEASE_TIMEOUT_SECONDS = 120
REPLAY_TIMEOUT_SECONDS = 120


# --- the watchers' process ----------------------------------------------------------------------


async def hold(base_url: str, paths: list[str]) -> None:
    """Open one stream per path, report once all answered, then report the bytes received every
    second until killed."""
    host, port = _address(base_url)
    statuses: dict[str, int] = {}
    received = [0]

    async def watch(path: str) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(_request(host, path))
        status = (await reader.readline()).decode().split(" ")[1]
        statuses[status] = statuses.get(status, 0) + 1
        while chunk := await reader.read(65536):
            received[0] += len(chunk)

    tasks = [asyncio.create_task(watch(path)) for path in paths]
    while sum(statuses.values()) < len(paths):
        await asyncio.sleep(0.05)
    print(json.dumps({"statuses": statuses}), flush=True)
    while True:
        await asyncio.sleep(1.0)
        print(json.dumps({"received_bytes": received[0]}), flush=True)
    await asyncio.gather(*tasks)  # never reached: the process is killed


async def replay(base_url: str, path: str, clients: int) -> None:
    """Stream `path` to its end on `clients` connections at once; report how long it took."""
    host, port = _address(base_url)
    started = time.perf_counter()
    done: list[tuple[float, int, bool]] = []

    async def read_to_end() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(_request(host, path, close=True))
        size, tail = 0, b""
        while chunk := await reader.read(65536):
            size += len(chunk)
            tail = (tail + chunk)[-4096:]
        writer.close()
        done.append((time.perf_counter() - started, size, b"event: end" in tail))

    tasks = [asyncio.create_task(read_to_end()) for _ in range(clients)]
    await asyncio.wait(tasks, timeout=REPLAY_TIMEOUT_SECONDS)
    print(
        json.dumps(
            {
                "completed": sum(ended for _, _, ended in done),
                "seconds": round(max((t for t, _, _ in done), default=0.0), 2),
                "bytes": sum(size for _, size, _ in done),
            }
        ),
        flush=True,
    )


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _request(host: str, path: str, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n".encode()


# --- this process -------------------------------------------------------------------------------


class PredictClient:
    """Sequential GETs on one keep-alive socket, each timed from its send to its last byte."""

    def __init__(self, base_url: str) -> None:
        self.host, port = _address(base_url)
        self.sock = socket.create_connection((self.host, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, path: str) -> float:
        started = time.perf_counter()
        self.sock.sendall(_request(self.host, path))
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self.buffer += self.sock.recv(65536)
        head = self.buffer[:end]
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(
            next(
                line[15:] for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:"
            )
        )
        while len(self.buffer) < end + 4 + length:
            self.buffer += self.sock.recv(65536)
        self.buffer = self.buffer[end + 4 + length :]
        return time.perf_counter() - started

    def latencies(self, requests: int) -> list[float]:
        paths = [f"/predict?a={a}&b={b}" for a, b in PAIRS]
        return [self.get(paths[i % len(paths)]) for i in range(requests)]

    def close(self) -> None:
        self.sock.close()


def rss_mb(service: Service) -> float:
    status = Path(f"/proc/{service.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return round(int(kilobytes) / 1024, 1)


def subscribers(service: Service) -> int | None:
    """Open streams /events/stats counts; None when it does not answer within 10 s (a service
    overwhelmed by its watchers)."""
    try:
        with service.client(timeout=10) as client:
            return client.get("/events/stats").json()["subscribers"]
    except httpx.TimeoutException:
        return None


def wait_for_subscribers(service: Service, wanted: int, timeout: float) -> float | None:
    """Seconds until /events/stats counts `wanted` subscribers, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if subscribers(service) == wanted:
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


def spawn(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, *arguments], stdout=subprocess.PIPE, text=True, bufsize=1
    )


def watcher_paths(count: int, job_id: int) -> list[str]:
    return ["/events" if i % 5 == 4 else f"/jobs/{job_id}/events" for i in range(count)]


def round_with(service: Service, watchers: int, job_id: int, requests: int) -> dict:
    """/predict's latency with `watchers` open, then how soon the service lets go of them."""
    holder = None
    statuses: dict = {}
    if watchers:
        holder = spawn("--hold", service.base_url, *watcher_paths(watchers, job_id))
        assert holder.stdout is not None
        statuses = json.loads(holder.stdout.readline())["statuses"]
        wait_for_subscribers(service, watchers, 30)
    counted = subscribers(service)
    client = PredictClient(service.base_url)
    client.latencies(200)  # warm
    before = time.perf_counter()
    latencies = sorted(client.latencies(requests))
    seconds = time.perf_counter() - before
    client.close()
    figures = {
        "watchers": watchers,
        "answers": statuses,
        "subscribers": counted,
        "predict_p50_ms": ms(statistics.median(latencies)),
        "predict_p99_ms": ms(latencies[int(0.99 * (len(latencies) - 1))]),
        "predict_rps": round(requests / seconds, 1),
        "rss_mb": rss_mb(service),
    }
    if holder is not None:
        assert holder.stdout is not None
        figures["watchers_received_kb"] = (
            json.loads(holder.stdout.readline())["received_bytes"] // 1024
        )
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        figures["released_after_s"] = wait_for_subscribers(service, 0, RELEASE_TIMEOUT_SECONDS)
        time.sleep(1.0)
        figures["rss_after_mb"] = rss_mb(service)
    return figures


def replay_round(service: Service, job_id: int, clients: int) -> dict:
    """A finished job's whole stream to `clients` at once: time, bytes, peak memory."""
    with service.client() as client:
        one = client.get(f"/jobs/{job_id}/events", timeout=60).text
    events = one.count("\nid: ") + one.startswith("id: ")
    rss_before = rss_mb(service)
    replayer = spawn("--replay", service.base_url, f"/jobs/{job_id}/events", str(clients))
    peak = rss_before
    while replayer.poll() is None:
        peak = max(peak, rss_mb(service))
        time.sleep(0.1)
    assert replayer.stdout is not None
    result = json.loads(replayer.stdout.read())
    released = wait_for_subscribers(service, 0, RELEASE_TIMEOUT_SECONDS)
    return {
        "figure": "replay",
        "clients": clients,
        "events_each": events,
        "kb_each": len(one.encode()) // 1024,
        "completed": result["completed"],
        "seconds": result["seconds"],
        "received_kb": result["bytes"] // 1024,
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak,
        "released_after_s": released,
        "rss_after_mb": rss_mb(service),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", default="0,100,500", help="comma-separated counts")
    parser.add_argument("--requests", type=int, default=3000, help="/predict requests a round")
    parser.add_argument("--replay-clients", type=int, default=200)
    parser.add_argument("--hold", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--replay", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        asyncio.run(hold(args.hold[0], args.hold[1:]))
        return
    if args.replay:
        asyncio.run(replay(args.replay[0], args.replay[1], int(args.replay[2])))
        return

    counts = [int(count) for count in args.watchers.split(",")]
    most = max([*counts, args.replay_clients])
    with tempfile.TemporaryDirectory(prefix="rnnlab-watchers-") as name:
        # One training thread: the job runs beside the service as it would on a small host,
        # leaving a core to the web process.
        service = start_this_tree(Path(name), max_open_streams=str(most + 10), worker_threads="1")
        try:
            with service.client() as client:
                model = wait_for_job(client, train(client, {}))
                replayed = wait_for_job(client, train(client, REPLAY_JOB))
                running = train(client, RUNNING_JOB)
                while client.get(f"/jobs/{running}").json()["status"] != "running":
                    time.sleep(0.05)
            emit(model_id=model["model_id"], running_job=running, replay_job=replayed["id"])
            base = None
            for count in counts:
                figures = round_with(service, count, running, args.requests)
                base = base or figures["predict_p99_ms"]  # the first round's: no watcher
                ratio = round(figures["predict_p99_ms"] / base, 2)
                emit(
                    **figures,
                    p99_ratio=ratio,
                    target_ratio=TARGET_P99_RATIO,
                    holds=ratio <= TARGET_P99_RATIO,
                )
            emit(**replay_round(service, replayed["id"], args.replay_clients))
            with service.client() as client:
                client.post(f"/jobs/{running}/cancel")
        finally:
            service.stop()


def start_this_tree(data_dir: Path, **settings: str) -> Service:
    """`rnnlab serve` from this checkout's code, as the tests start it (an installed console
    script may belong to another tree)."""
    port = free_port()
    command = [sys.executable, "-m", "rnnlab.service.cli", "serve", "--no-access-log"]
    env = service_env(data_dir, port, **settings)
    return launch(command, env, port, data_dir / f"service-{port}.log")


def train(client, hyperparams: dict) -> int:  # type: ignore[no-untyped-def]
    response = client.post("/train", json={"task": "binary_addition", "hyperparams": hyperparams})
    response.raise_for_status()
    return response.json()["id"]


if __name__ == "__main__":
    main()
