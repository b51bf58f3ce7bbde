"""Early stopping of hopeless sweep runs by the median rule (off unless the sweep asks for it).

A run stops when, at its latest logged step s, the running mean of the watched metric up to s
is worse than the median of its peers' running means up to s. Peers are the sweep's other runs
that have logged past s, or that succeeded sooner (their whole run counts). Running means, not
the last values: a batch-1 loss jumps by orders of magnitude from one step to the next. Which
way is worse comes from the job's task (`TASKS[task].higher_is_better`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from rnnlab.models.tasks import TASKS
from rnnlab.service.jobs.stop_rules import JobStopped, StopRule
from rnnlab.service.store.tables import Job, JobStatus, Metric, Sweep

CHECK_SECONDS = 2.0  # between two looks at the peers
EARLY_STOPPED = "early stopped"  # how the error of an early-stopped run begins


class EarlyStopped(JobStopped):
    """Its sweep's median rule judged the run hopeless; `error` says by how much."""

    def __init__(self, detail: str) -> None:
        self.error = detail
        super().__init__(detail)


class MedianRule(StopRule):
    def __init__(
        self, job_id: int, sweep_id: int, rule: Mapping[str, Any], higher_is_better: bool
    ) -> None:
        self.job_id = job_id
        self.sweep_id = sweep_id
        self.metric: str = rule["metric"]
        self.min_progress: float = rule["min_progress"]
        self.min_peers: int = rule["min_peers"]
        self.higher_is_better = higher_is_better
        self.progress = 0.0
        self._sum = 0.0
        self._count = 0
        self._step: int | None = None
        self._last_check = time.monotonic()

    def observe(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        self.progress = progress
        if self.metric in metrics:
            self._sum += float(metrics[self.metric])
            self._count += 1
            self._step = step

    def at_flush(self, session: Session) -> JobStopped | None:
        due = time.monotonic() - self._last_check >= CHECK_SECONDS
        if not due or self.progress < self.min_progress:
            return None
        self._last_check = time.monotonic()
        return self._check(session)

    def _check(self, session: Session) -> JobStopped | None:
        if self._step is None or not self._count:
            return None
        step, mine = self._step, self._sum / self._count
        means = self._peer_means(session, step)
        if len(means) < self.min_peers:
            return None
        median = statistics.median(means)
        worse = mine < median if self.higher_is_better else mine > median
        if not worse:
            return None
        return EarlyStopped(
            f"{EARLY_STOPPED} at step {step} (median rule): the mean {self.metric} so far, "
            f"{mine:.4g}, is worse than the median {median:.4g} of {len(means)} other runs"
        )

    def _peer_means(self, session: Session, step: int) -> list[float]:
        """The running means up to `step` of the sweep's other runs that got that far."""
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
        return [m for m in peers if m is not None]


def early_stop_rule(session: Session, job: Job) -> MedianRule | None:
    """The median rule of the job's sweep, when that sweep asked for early stopping."""
    if job.sweep_id is None:
        return None
    rule = session.scalar(select(Sweep.early_stopping).where(Sweep.id == job.sweep_id))
    if not rule:
        return None
    better = TASKS[job.task].higher_is_better(rule["metric"])
    return MedianRule(job.id, job.sweep_id, rule, better)
