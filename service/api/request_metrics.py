"""Prometheus series of every HTTP request: a count and a latency histogram by method, route
template (`/jobs/{job_id}`, never the id itself) and status.

This runs on every request, /predict included, whose whole in-process cost is small, so this
must be smaller still: a request only adds one to a plain list slot and its seconds to a sum
(prometheus_client's own Histogram takes a lock per bucket and per sum), and the exposition is
built from those numbers when Prometheus scrapes (`collect`). bench/README.md has the measured
cost ("What /metrics costs a prediction"). prometheus_client itself is imported at the first
scrape, not at start-up: its exposition module pulls in http.server.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"  # paths no route matches: one series, whatever clients send
LABELS = ("method", "route", "status")
# Seconds; an answer from a loaded model takes well under a millisecond in process.
BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Series:
    """One (method, route, status): how many requests fell in each bucket, and their total."""

    __slots__ = ("counts", "seconds")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)  # the last one: over the largest bound
        self.seconds = 0.0


class HttpMetrics:
    """Counted on the event loop; read by the scrape (a GIL-atomic copy of the dict).
    A prometheus_client collector: it has `collect()`."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, int], Series] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            series = self._series[method, route, status] = Series()
        series.counts[bisect_left(BOUNDS, seconds)] += 1  # the first bound >= seconds
        series.seconds += seconds

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        requests = CounterMetricFamily(
            "rnnlab_http_requests", "HTTP requests answered", labels=LABELS
        )
        latency = HistogramMetricFamily(
            "rnnlab_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            labels=LABELS,
        )
        for (method, route, status), series in list(self._series.items()):
            labels = [method, route, str(status)]
            cumulative = list(accumulate(series.counts))
            buckets = [
                (str(bound), count) for bound, count in zip(BOUNDS, cumulative, strict=False)
            ]
            latency.add_metric(labels, [*buckets, ("+Inf", cumulative[-1])], series.seconds)
            requests.add_metric(labels, cumulative[-1])
        yield requests
        yield latency


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the application answers (an exception ends as a 500 outside)

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = scope.get("route")  # set by the router on the scope it was given
            template = getattr(route, "path", UNMATCHED)
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - started)
