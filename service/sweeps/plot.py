"""The curves of a sweep in one SVG: per cell, the mean over its seeds and a band from the lowest
to the highest seed. matplotlib is imported on the first plot (its Agg renderer, no display),
so that a service that never draws never pays its import."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.service.charts.text import PLAIN_TEXT, plain
from rnnlab.service.store.tables import Job, Metric, Sweep

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

BINS = 200  # points per curve: a batch-1 loss is noise at full resolution


def _binned(steps: NDArray, values: NDArray, edges: NDArray) -> NDArray:
    """Mean of the values in each step bin (NaN where a run has none)."""
    which = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, len(edges) - 2)
    sums = np.bincount(which, weights=values, minlength=len(edges) - 1)
    counts = np.bincount(which, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def sweep_curves(
    session: Session, sweep: Sweep, metric: str
) -> dict[int, dict[int, tuple[NDArray, NDArray]]]:
    """cell -> job -> (steps, values) of `metric`, finite values only."""
    rows = session.execute(
        select(Job.sweep_cell, Metric.job_id, Metric.step, Metric.value)
        .join(Job, Job.id == Metric.job_id)
        .where(Job.sweep_id == sweep.id, Metric.name == metric)
        .order_by(Metric.job_id, Metric.step)
    )
    points: dict[int, dict[int, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for cell, job_id, step, value in rows:
        if cell is not None and np.isfinite(value):
            points[cell][job_id].append((step, value))
    return {
        cell: {
            job_id: (np.array([s for s, _ in p], float), np.array([v for _, v in p], float))
            for job_id, p in runs.items()
        }
        for cell, runs in points.items()
    }


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{plain(k)}={plain(v)}" for k, v in params.items()) or "base"


def sweep_svg(
    sweep: Sweep,
    curves: dict[int, dict[int, tuple[NDArray, NDArray]]],
    metric: str,
    log_y: bool | None = None,
) -> bytes:
    import matplotlib  # lazily: its first import is slow and large
    from matplotlib.figure import Figure

    # text as <text> (searchable, 3x smaller than glyph paths); fixed ids: same data, same bytes
    settings: dict[RcKeyType, Any] = {
        "svg.fonttype": "none",
        "svg.hashsalt": "rnnlab",
        **PLAIN_TEXT,
    }
    with matplotlib.rc_context(settings):
        return _draw(Figure(figsize=(8, 4.8), layout="constrained"), sweep, curves, metric, log_y)


def _draw(
    figure: Any,
    sweep: Sweep,
    curves: dict[int, dict[int, tuple[NDArray, NDArray]]],
    metric: str,
    log_y: bool | None,
) -> bytes:
    axes = figure.add_subplot()
    last = max((s[-1] for runs in curves.values() for s, _ in runs.values()), default=1.0)
    edges = np.linspace(0.0, last, BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    positive = all((v > 0).all() for runs in curves.values() for _, v in runs.values())
    for cell, params in enumerate(sweep.cells):
        runs = curves.get(cell, {})
        if not runs:
            continue
        per_run = np.array([_binned(s, v, edges) for s, v in runs.values()])  # (runs, BINS)
        seen = ~np.isnan(per_run).all(axis=0)
        with np.errstate(all="ignore"):
            mean = np.nanmean(per_run[:, seen], axis=0)
            low, high = np.nanmin(per_run[:, seen], axis=0), np.nanmax(per_run[:, seen], axis=0)
        (line,) = axes.plot(centres[seen], mean, label=f"{_label(params)} ({len(runs)} runs)")
        axes.fill_between(centres[seen], low, high, color=line.get_color(), alpha=0.2, lw=0)
    if log_y if log_y is not None else positive and "accuracy" not in metric:
        axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel(f"{plain(metric)} (mean over seeds; band: min..max)")
    title = plain(sweep.name) if sweep.name else f"sweep {sweep.id}"
    axes.set_title(f"{title}: {plain(sweep.task)}")
    if curves:
        axes.legend(fontsize="small")
    axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
