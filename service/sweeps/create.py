"""Queueing a sweep: the grid expanded into cells, every (cell, seed) checked, then one job each,
all in one transaction (a sweep is queued whole or not at all)."""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update

from rnnlab.service.errors import InvalidInput, SweepFinished, sweep_not_found
from rnnlab.service.jobs.plans import plan_job
from rnnlab.service.jobs.queue import check_queue_room
from rnnlab.service.schemas.experiments import MAX_SWEEP_RUNS, SweepCreate
from rnnlab.service.schemas.hyperparams import HYPERPARAMS
from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobStatus, JobTag, Sweep, utcnow
from rnnlab.service.sweeps.metrics import curve_metric, ranked_metric


def expand_cells(grid: dict[str, list[Any]], cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, each combined with every explicit cell."""
    names = list(grid)
    combinations = itertools.product(*grid.values())
    product = [dict(zip(names, values, strict=True)) for values in combinations]
    return [{**combination, **cell} for combination in product for cell in (cells or [{}])]


def _check_names(task: str, body: SweepCreate) -> None:
    known = set(HYPERPARAMS[task].model_fields)
    for source, names in (("grid", list(body.grid)), ("cells", [n for c in body.cells for n in c])):
        unknown = sorted(set(names) - known)
        if unknown:
            raise InvalidInput(
                f"unknown hyperparameters in {source}: {', '.join(unknown)}; allowed are "
                f"{', '.join(sorted(known - {'seed'}))}"
            )
        if "seed" in names:
            raise InvalidInput(f"seed cannot vary in {source}: list the seeds in `seeds`")
    unknown_base = sorted(set(body.hyperparams) - known)
    if unknown_base:
        raise InvalidInput(f"unknown hyperparameters {', '.join(unknown_base)}")


def _validated(task: str, params: dict[str, Any], where: str) -> Any:
    try:
        return HYPERPARAMS[task].model_validate(params)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'hyperparams'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise InvalidInput(f"{where}: {problems}") from error


def create_sweep(db: Database, settings: Settings, body: SweepCreate) -> tuple[Sweep, int]:
    """Queue the sweep's jobs; (the sweep, how many jobs)."""
    task = body.task
    _check_names(task, body)
    metric = ranked_metric(task, body.metric)
    early = None
    if body.early_stopping is not None:
        early = body.early_stopping.model_dump()
        early["metric"] = curve_metric(task, early["metric"])
    cells = expand_cells(body.grid, body.cells)
    runs = len(cells) * len(body.seeds)
    limit = min(MAX_SWEEP_RUNS, settings.max_queued_jobs)
    if runs > limit:
        raise InvalidInput(
            f"the sweep has {len(cells)} cells x {len(body.seeds)} seeds = {runs} runs, over "
            f"{limit} (at most {MAX_SWEEP_RUNS}, and RNNLAB_MAX_QUEUED_JOBS): fewer values or seeds"
        )
    base = _validated(task, body.hyperparams, "hyperparams").model_dump()
    base = {name: base[name] for name in body.hyperparams}  # as validated: "8" becomes 8
    with db.write() as session:
        planned = []
        for index, cell in enumerate(cells):
            for seed in body.seeds:
                where = f"cell {index} {cell} with seed {seed}"
                hyperparams = _validated(task, {**body.hyperparams, **cell, "seed": seed}, where)
                plan = plan_job(session, task, hyperparams, settings.job_memory_budget)
                planned.append((index, plan))
            validated = hyperparams.model_dump()  # a group (early_stopping) as plain JSON
            cells[index] = {name: validated[name] for name in cell}
        check_queue_room(session, settings.max_queued_jobs, adding=runs)
        sweep = Sweep(
            task=task,
            name=body.name,
            tags=body.tags,
            hyperparams=base,
            grid=body.grid,  # as requested; `cells` holds the validated values
            cells=cells,
            seeds=body.seeds,
            metric=metric,
            early_stopping=early,
        )
        session.add(sweep)
        session.flush()
        for index, plan in planned:
            job = Job(
                task=task,
                **plan.row(),
                name=body.name,
                sweep_id=sweep.id,
                sweep_cell=index,
            )
            job.tag_rows = [JobTag(tag=tag) for tag in body.tags]
            session.add(job)
        return sweep, runs


def cancel_sweep(db: Database, sweep_id: int) -> None:
    """Queued runs end at once; running ones stop at their next check and store no model."""
    with db.write() as session:
        sweep = session.get(Sweep, sweep_id)
        if sweep is None:
            raise sweep_not_found(sweep_id)
        active = session.scalars(
            select(Job.id).where(
                Job.sweep_id == sweep_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
            )
        ).all()
        if not active:
            raise SweepFinished(f"sweep {sweep_id} already finished: nothing to cancel")
        sweep.cancel_requested = True
        in_sweep = Job.sweep_id == sweep_id
        session.execute(
            update(Job)
            .where(in_sweep, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.CANCELLED, cancel_requested=True, finished_at=utcnow())
        )
        session.execute(
            update(Job)
            .where(in_sweep, Job.status == JobStatus.RUNNING)
            .values(cancel_requested=True)
        )
