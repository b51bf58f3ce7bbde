"""A sweep in one table: each cell's runs, their final metrics over the seeds, a ranking."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.models.tasks import TASKS
from rnnlab.service.schemas.experiments import (
    MetricSummary,
    RankEntry,
    SweepCell,
    SweepPublic,
    SweepRun,
    SweepSummary,
)
from rnnlab.service.store.tables import Job, JobStatus, Sweep
from rnnlab.service.sweeps.metrics import is_diverged, is_early_stopped

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _run(job: Job) -> SweepRun:
    return SweepRun(
        job_id=job.id,
        seed=int(job.hyperparams.get("seed", 0)),
        status=job.status,
        diverged=job.status == JobStatus.FAILED and is_diverged(job.error),
        early_stopped=job.status == JobStatus.CANCELLED and is_early_stopped(job.error),
        error=job.error,
        model_id=job.model.id if job.model is not None else None,
        metrics=job.model.metrics if job.model is not None else {},
    )


def _summaries(task: str, runs: list[SweepRun]) -> dict[str, MetricSummary]:
    found: dict[str, MetricSummary] = {}
    for name in TASKS[task].ranked_metrics:
        values = [float(r.metrics[name]) for r in runs if r.metrics.get(name) is not None]
        values = [v for v in values if math.isfinite(v)]
        if values:
            found[name] = MetricSummary(
                mean=statistics.fmean(values),
                std=statistics.pstdev(values) if len(values) > 1 else 0.0,
                min=min(values),
                max=max(values),
                n=len(values),
            )
    return found


def _cell(task: str, index: int, params: dict[str, Any], jobs: list[Job]) -> SweepCell:
    runs = sorted((_run(job) for job in jobs), key=lambda r: r.seed)
    statuses = Counter(r.status for r in runs)
    diverged = sum(r.diverged for r in runs)
    return SweepCell(
        index=index,
        params=params,
        runs=len(runs),
        queued=statuses["queued"],
        running=statuses["running"],
        succeeded=statuses["succeeded"],
        diverged=diverged,
        failed=statuses["failed"] - diverged,
        cancelled=statuses["cancelled"],
        early_stopped=sum(r.early_stopped for r in runs),
        metrics=_summaries(task, runs),
        rank=None,
        jobs=runs,
    )


def rank_cells(cells: list[SweepCell], metric: str, higher_is_better: bool) -> list[RankEntry]:
    """Cells with a result, best mean first (the largest when `higher_is_better`)."""
    scored = [c for c in cells if metric in c.metrics]
    sign = -1.0 if higher_is_better else 1.0
    scored.sort(key=lambda c: (sign * c.metrics[metric].mean, c.index))
    ranking = []
    for rank, cell in enumerate(scored, start=1):
        cell.rank = rank
        summary = cell.metrics[metric]
        ranking.append(
            RankEntry(
                rank=rank,
                cell=cell.index,
                params=cell.params,
                mean=summary.mean,
                std=summary.std,
                n=summary.n,
            )
        )
    return ranking


def _status(sweep: Sweep, counts: Counter[str]) -> str:
    if counts["queued"] + counts["running"]:
        started = counts["running"] or sum(counts.values()) > counts["queued"]
        return "running" if started else "queued"
    return "cancelled" if sweep.cancel_requested else "finished"


def _jobs(session: Session, sweep_id: int) -> list[Job]:
    query = select(Job).where(Job.sweep_id == sweep_id).order_by(Job.id)
    return list(session.scalars(query).unique())


def summarize(sweep: Sweep, jobs: list[Job]) -> SweepSummary:
    counts = Counter(job.status for job in jobs)
    done = sum(counts[s] for s in JobStatus.FINISHED)
    running_progress = sum(job.progress for job in jobs if job.status == JobStatus.RUNNING)
    return SweepSummary(
        id=sweep.id,
        task=sweep.task,
        name=sweep.name,
        tags=sweep.tags,
        status=_status(sweep, counts),  # type: ignore[arg-type]
        progress=min(1.0, (done + running_progress) / len(jobs)) if jobs else 1.0,
        runs=len(jobs),
        counts={
            **{s: counts[s] for s in STATUSES},
            "diverged": sum(j.status == "failed" and is_diverged(j.error) for j in jobs),
        },
        metric=sweep.metric,
        created_at=sweep.created_at,
    )


def sweep_summary(session: Session, sweep: Sweep) -> SweepSummary:
    return summarize(sweep, _jobs(session, sweep.id))


def sweep_public(session: Session, sweep: Sweep, metric: str) -> SweepPublic:
    """The whole table, ranked by `metric` (a final metric of the sweep's task)."""
    jobs = _jobs(session, sweep.id)
    by_cell: dict[int, list[Job]] = {i: [] for i in range(len(sweep.cells))}
    for job in jobs:
        if job.sweep_cell is not None:
            by_cell.setdefault(job.sweep_cell, []).append(job)
    cells = [_cell(sweep.task, i, sweep.cells[i], by_cell[i]) for i in range(len(sweep.cells))]
    higher_is_better = TASKS[sweep.task].higher_is_better(metric)
    ranking = rank_cells(cells, metric, higher_is_better)
    return SweepPublic(
        **summarize(sweep, jobs).model_dump(),
        hyperparams=sweep.hyperparams,
        grid=sweep.grid,
        seeds=sweep.seeds,
        early_stopping=sweep.early_stopping,  # type: ignore[arg-type]
        ranked_by=metric,
        order="descending" if higher_is_better else "ascending",
        ranking=ranking,
        cells=cells,
    )
