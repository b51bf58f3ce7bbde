"""Event streams under many clients, over real HTTP and raw sockets against a real service: a cap
on open streams answered 503 beyond it, clients killed mid-stream let go of within seconds, a
long backlog served page by page."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

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
