"""GET /metrics: the Prometheus exposition.

Two kinds of series. What the web process itself sees (requests, the model and answer caches,
worker restarts) is counted in its memory. What the jobs do is read from the database at
scrape time: jobs by status, the queue, and each running job's speed, from the step and
timestamp of the metrics its worker has logged. The database is already where every worker
process writes (and, with several machines, the only place all of them write), so the numbers
are right however many workers there are, with no per-process files to share or clean up.

prometheus_client is imported at the first scrape (see request_metrics.py for why).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rnnlab.models.tasks import TASKS
from rnnlab.service.store.tables import Job, JobStatus
from rnnlab.service.store.tables import Metric as MetricRow
from rnnlab.service.tracking.liveness import shown_as, silent_running

router = APIRouter(tags=["health"])

STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, *JobStatus.FINISHED)
RATE_WINDOW = timedelta(seconds=30)  # a running job's speed: over its last 30 s of logged steps
RATE_POINTS = 200
TEXT_FORMAT = "text/plain; version=0.0.4"  # prometheus_client's CONTENT_TYPE_LATEST, no charset
_registry_lock = threading.Lock()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="read_metrics_metrics_get",
    response_class=Response,
    responses={
        200: {
            "content": {TEXT_FORMAT: {"schema": {"type": "string"}}},
            "description": "The Prometheus text exposition format",
        }
    },
)
def read_prometheus_metrics(request: Request) -> Response:
    """Requests by route and status with latencies, jobs by status, queue depth, running
    jobs' steps/s and tokens/s, model- and answer-cache hits and misses, worker restarts."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(_registry(request.app.state)), media_type=CONTENT_TYPE_LATEST)


def _registry(state: Any) -> Any:
    """The app's own registry (no process-wide state), made at the first scrape."""
    with _registry_lock:
        if getattr(state, "registry", None) is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
            registry.register(state.http_metrics)
            registry.register(ServiceCollector(state))
            state.registry = registry
        return state.registry


class ServiceCollector:
    """The series read at scrape time, from the app's state and its database (a
    prometheus_client collector: it has `collect()`)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        with self.state.db.read() as session:
            yield from _job_series(session, self.state.settings.heartbeat_timeout_seconds)
        yield from _cache_series(self.state.model_cache)
        restarts = CounterMetricFamily(
            "rnnlab_worker_restarts", "Worker processes replaced after they died"
        )
        restarts.add_metric([], self.state.executor.restarts)
        yield restarts


def _job_series(session: Session, heartbeat_timeout_seconds: float) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    # As GET /jobs shows them: a running row whose worker is silent is counted queued.
    silent = session.scalar(
        select(func.count()).select_from(Job).where(silent_running(heartbeat_timeout_seconds))
    )
    if silent:
        counts[JobStatus.RUNNING] -= silent
        counts[JobStatus.QUEUED] = counts.get(JobStatus.QUEUED, 0) + silent
    jobs = GaugeMetricFamily("rnnlab_jobs", "Jobs by status", labels=["status"])
    for status in STATUSES:
        jobs.add_metric([status], counts.get(status, 0))
    yield jobs
    yield GaugeMetricFamily(
        "rnnlab_queue_depth",
        "Jobs waiting for a worker",
        value=counts.get(JobStatus.QUEUED, 0),
    )
    steps = GaugeMetricFamily(
        "rnnlab_job_steps_per_second",
        "Training steps a second of each running job, over its last 30 s",
        labels=["job_id", "task"],
    )
    tokens = GaugeMetricFamily(
        "rnnlab_job_tokens_per_second",
        "Training tokens a second of each running job whose task reads tokens, over its last 30 s",
        labels=["job_id"],
    )
    running = session.execute(
        select(Job.id, Job.task, Job.hyperparams).where(
            shown_as(JobStatus.RUNNING, heartbeat_timeout_seconds)
        )
    ).all()
    for job_id, task, hyperparams in running:
        rate = steps_per_second(session, job_id)
        if rate is None:
            continue
        steps.add_metric([str(job_id), task], rate)
        per_step = tokens_per_step(task, hyperparams)
        if per_step is not None:
            tokens.add_metric([str(job_id)], rate * per_step)
    yield steps
    yield tokens


def steps_per_second(session: Session, job_id: int) -> float | None:
    """From the newest logged `loss` steps and their timestamps; None before two of them."""
    rows = session.execute(
        select(MetricRow.step, MetricRow.timestamp)
        .where(MetricRow.job_id == job_id, MetricRow.name == "loss")
        .order_by(MetricRow.step.desc())
        .limit(RATE_POINTS)
    ).all()
    if len(rows) < 2:
        return None
    last_step, last_time = rows[0]
    # The oldest point within the window: a resumed job's points from before its restart
    # are left out (the gap) when the service was down for longer than the window.
    first_step, first_time = next(
        (row for row in reversed(rows) if last_time - row[1] <= RATE_WINDOW), rows[0]
    )
    seconds = (last_time - first_time).total_seconds()
    return (last_step - first_step) / seconds if seconds > 0 else None


def tokens_per_step(task_name: str, hyperparams: dict[str, Any]) -> int | None:
    """The tokens a step of this job reads, as its task says; None when its task reads none
    (or is not registered in this process)."""
    task = TASKS.get(task_name)
    return None if task is None else task.tokens_per_step(task.make_config(hyperparams))


def _cache_series(cache: Any) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily

    for name, stats, what in (
        ("rnnlab_model_cache", cache.model_stats, "Predictions whose model was already loaded"),
        ("rnnlab_answer_cache", cache.answer_stats, "Answers kept from an earlier ask"),
    ):
        family = CounterMetricFamily(
            f"{name}_lookups", f"{what} (hit) or not (miss)", labels=["result"]
        )
        family.add_metric(["hit"], stats.hits)
        family.add_metric(["miss"], stats.misses)
        yield family
