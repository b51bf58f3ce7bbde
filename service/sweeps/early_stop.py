"""Early stopping of hopeless sweep runs by the median rule (off unless the sweep asks for it).

A run stops when, at its latest logged step s, the running mean of the watched metric up to s
is worse than the median of its peers' running means up to s. Peers are the sweep's other runs
that have logged past s, or that succeeded sooner (their whole run counts). Running means, not
the last values: a batch-1 loss jumps by orders of magnitude from one step to the next.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from rnnlab.service.jobs.hooks import DatabaseHooks, EarlyStopped
from rnnlab.service.store.tables import Job, JobStatus, Metric, Sweep
from rnnlab.service.sweeps.metrics import EARLY_STOPPED, higher_is_better

CHECK_SECONDS = 2.0  # between two looks at the peers


class MedianStoppingHooks(DatabaseHooks):
    def __init__(self, *args: Any, sweep_id: int, rule: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sweep_id = sweep_id
        self.metric: str = rule["metric"]
        self.min_progress: float = rule["min_progress"]
        self.min_peers: int = rule["min_peers"]
        self._sum = 0.0
        self._count = 0
        self._step: int | None = None
        self._last_check = time.monotonic()

    def report(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        super().report(step, metrics, progress)
        if self.metric in metrics:
            self._sum += float(metrics[self.metric])
            self._count += 1
            self._step = step

    def flush(self, session: Session) -> None:
        super().flush(session)
        due = time.monotonic() - self._last_check >= CHECK_SECONDS
        if self.stopped is None and due and self.progress >= self.min_progress:
            self._last_check = time.monotonic()
            self._check(session)

    def _check(self, session: Session) -> None:
        if self._step is None or not self._count:
            return
        step, mine = self._step, self._sum / self._count
        later = aliased(Metric)
        reached = exists().where(
            later.job_id == Metric.job_id, later.name == self.metric, later.step >= step
        )
        peers = session.execute(
            select(func.avg(Metric.value))
            .join(Job, Job.id == Metric.job_id)
            .where(
                Job.sweep_id == self.sweep_id,
                Job.id != self.job_id,
                Metric.name == self.metric,
                Metric.step <= step,
                or_(reached, Job.status == JobStatus.SUCCEEDED),
            )
            .group_by(Metric.job_id)
        ).scalars()
        means = [m for m in peers if m is not None]
        if len(means) < self.min_peers:
            return
        median = statistics.median(means)
        worse = mine < median if higher_is_better(self.metric) else mine > median
        if worse:
            self.stopped = EarlyStopped(
                f"{EARLY_STOPPED} at step {step} (median rule): the mean {self.metric} so far, "
                f"{mine:.4g}, is worse than the median {median:.4g} of {len(means)} other runs"
            )


def make_hooks(session: Session, job: Job, **kwargs: Any) -> DatabaseHooks:
    """The hooks of a job: with the median rule when its sweep asked for early stopping."""
    if job.sweep_id is not None:
        rule = session.scalar(select(Sweep.early_stopping).where(Sweep.id == job.sweep_id))
        if rule:
            return MedianStoppingHooks(sweep_id=job.sweep_id, rule=rule, **kwargs)
    return DatabaseHooks(**kwargs)
