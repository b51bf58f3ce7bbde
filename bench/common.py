"""Helpers shared by the benchmarks (and by the tests, which start services the same way):
JSON lines, medians, a live `rnnlab serve`, wrk.

Every benchmark prints one JSON object per line and per figure (`emit`), so that its output can
be diffed, grepped or loaded with `jq -s`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))  # `python bench/x.py` imports models/ and service/ from this tree


def emit(**figures: object) -> None:
    print(json.dumps(figures), flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rnnlab_command() -> list[str]:
    """The installed console script beside this interpreter, else
    `python -m rnnlab.service.cli`."""
    script = Path(sys.executable).with_name("rnnlab")
    if script.exists():
        return [str(script), "serve", "--no-access-log"]
    return [sys.executable, "-m", "rnnlab.service.cli", "serve", "--no-access-log"]


def service_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """This process's environment without any RNNLAB_ setting, plus the given ones."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RNNLAB_")}
    env.update(
        {"RNNLAB_DATA_DIR": str(data_dir), "RNNLAB_PORT": str(port), "RNNLAB_HOST": "127.0.0.1"}
    )
    env.update({f"RNNLAB_{name.upper()}": value for name, value in settings.items()})
    return env


def stop_process(process: subprocess.Popen, grace_seconds: float = 15) -> None:
    """SIGINT, which a service takes as a clean shutdown (running jobs checkpoint), then SIGKILL
    if it is still there after `grace_seconds`."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def redis_command(port: int, directory: Path, address: str = "127.0.0.1") -> list[str]:
    """A redis-server of one's own on `address`: nothing saved, so a restart starts empty."""
    return [
        "redis-server",
        "--bind",
        address,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


@dataclass
class Service:
    """An `rnnlab serve` (or any HTTP server) started by a benchmark."""

    process: subprocess.Popen
    base_url: str
    log_path: Path
    started: float  # time.perf_counter() just before the launch
    healthy_after: float = 0.0  # seconds from the launch to the first 200 on the health path

    def client(self, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process)


def launch(
    command: list[str],
    env: dict[str, str],
    port: int,
    log_path: Path,
    health_path: str = "/healthz",
    timeout: float = 60,
) -> Service:
    """Start `command` and wait (polling every 10 ms) until `health_path` answers 200."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT
    )
    service = Service(process, f"http://127.0.0.1:{port}", log_path, started)
    deadline = started + timeout
    with httpx.Client(base_url=service.base_url, timeout=5) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[0]} exited with {process.returncode}:\n"
                    f"{log_path.read_text(errors='replace')[-3000:]}"
                )
            try:
                if client.get(health_path).status_code == 200:
                    service.healthy_after = time.perf_counter() - started
                    return service
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    service.stop()
    raise RuntimeError(f"{command[0]} did not become healthy in {timeout} s")


def start_rnnlab(data_dir: Path, **settings: str) -> Service:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    return launch(
        rnnlab_command(),
        service_env(data_dir, port, **settings),
        port,
        data_dir / f"service-{port}.log",
    )


def wait_for_job(
    client: httpx.Client, job_id: int, timeout: float = 600, poll_seconds: float = 0.05
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(poll_seconds)


# --- wrk ---------------------------------------------------------------------------------------

# wrk's Lua `done` hook prints the figures we need in one parseable line.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("WRK_JSON {\\"requests\\": %d, \\"duration_us\\": %d, "
    .. "\\"non_2xx\\": %d, \\"errors\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, "
    .. "\\"p99_us\\": %d, \\"max_us\\": %d}\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def paths_script(paths: Sequence[str], threads: int) -> str:
    """A wrk `request` hook that asks for `paths` in turn, the threads interleaved (thread i asks
    paths i, i + threads, ...): no path is asked twice before the list wraps around."""
    quoted = ", ".join(json.dumps(path) for path in paths)  # JSON strings are Lua strings here
    return f"""
paths = {{{quoted}}}
stride = {threads}
first = 0
created = 0
setup = function(thread)
  thread:set("first", created)
  created = created + 1
end
counter = 0
request = function()
  local index = (first + counter * stride) % #paths
  counter = counter + 1
  return wrk.format("GET", paths[index + 1])
end
"""


def run_wrk(
    url: str,
    threads: int,
    connections: int,
    seconds: float,
    script_dir: Path,
    paths: Sequence[str] = (),
) -> dict:
    """`wrk -t -c -d` on one URL (or on `paths` in turn, on its host) -> requests/s and latency
    percentiles in ms."""
    script = script_dir / "wrk_json.lua"
    script.write_text(WRK_SCRIPT + (paths_script(paths, threads) if paths else ""))
    wrk = wrk_path()
    assert wrk is not None
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^WRK_JSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    raw = json.loads(match.group(1))
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["errors"],
    }
