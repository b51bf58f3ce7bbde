"""Prometheus series of every HTTP request: a count and a latency histogram by method, route
template (`/jobs/{job_id}`, never the id itself) and status.

A pure ASGI middleware, because it runs on every request, /predict included: the labelled
series of each (method, route, status) are looked up once and kept, so that a request costs
two clock reads, a dict lookup and two increments (bench/README.md has the measured cost).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"  # paths no route matches: one series, whatever clients send
# Seconds; an answer from a loaded model takes well under a millisecond in process.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HttpMetrics:
    """The two request series, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("method", "route", "status")
        self.requests = Counter(
            "rnnlab_http_requests", "HTTP requests answered", labels, registry=registry
        )
        self.latency = Histogram(
            "rnnlab_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(*key),
                self.latency.labels(*key),
            )
        series[0].inc()
        series[1].observe(seconds)


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
