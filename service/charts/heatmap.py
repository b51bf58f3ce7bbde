"""The vanishing (or exploding) gradient as a picture: ||dL_T/dh_t|| by training step (x) and by
how far back in time from the loss it reached (y), on a log colour scale, as the notes explain
it: sigmoid's error fades within a few steps, tanh's travels further, ReLU's may blow up.

Columns are the job's `gradient_norms` records (models/teaching.py), at most
HEATMAP_COLUMNS of them spread evenly over the run, so a long run draws from one bounded read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.service.charts.curves import _render, describe, headline
from rnnlab.service.charts.curves import _wrap as wrap
from rnnlab.service.store.tables import JobRecord

HEATMAP_COLUMNS = 400
KIND = "gradient_norms"


def read_columns(session: Session, job_id: int) -> list[tuple[int, list[float]]]:
    """(step, norms) of up to HEATMAP_COLUMNS gradient records, evenly spread, oldest first."""
    where = (JobRecord.job_id == job_id, JobRecord.kind == KIND)
    ids = session.scalars(select(JobRecord.id).where(*where).order_by(JobRecord.id)).all()
    if len(ids) > HEATMAP_COLUMNS:
        picks = np.linspace(0, len(ids) - 1, HEATMAP_COLUMNS).round().astype(int)
        ids = [ids[pick] for pick in sorted(set(picks.tolist()))]
    rows = session.execute(
        select(JobRecord.step, JobRecord.payload)
        .where(*where, JobRecord.id.in_(ids))
        .order_by(JobRecord.id)
    ).all()
    return [(row.step, list(row.payload.get("norms", []))) for row in rows]


def norms_grid(columns: Sequence[tuple[int, list[float]]]) -> np.ndarray:
    """(steps back from the loss, column) norms; NaN where a column's window was shorter."""
    depth = max((len(norms) for _, norms in columns), default=0)
    grid = np.full((depth, len(columns)), np.nan)
    for column, (_, norms) in enumerate(columns):
        back = np.asarray(norms, dtype=float)[::-1]  # row k: k steps back from the loss
        grid[: len(back), column] = back
    return grid


def gradient_heatmap(state: Any, hyperparams: dict[str, Any], columns: list, fmt: str) -> bytes:
    """The heat map of a job's gradient-norm records (a message when there are none yet)."""
    grid = norms_grid(columns)

    def draw(figure: Any) -> None:
        from matplotlib.colors import LogNorm

        title = f"{headline(state)}: ||dL/dh|| travelling back in time"
        figure.suptitle(f"{title}\n{wrap(describe(hyperparams))}", fontsize=9)
        axes = figure.subplots()
        positive = grid[np.isfinite(grid) & (grid > 0)]
        if positive.size == 0:
            axes.text(0.5, 0.5, "no gradient norms yet", ha="center", va="center")
            axes.set_axis_off()
            return
        steps = np.array([step for step, _ in columns], dtype=float)
        edges = _edges(steps)
        shown = np.ma.masked_where(~(np.isfinite(grid) & (grid > 0)), grid)
        norm = LogNorm(vmin=positive.min(), vmax=positive.max())
        mesh = axes.pcolormesh(edges, np.arange(grid.shape[0] + 1) - 0.5, shown, norm=norm)
        figure.colorbar(mesh, ax=axes, label="||dL/dh_t|| (log scale)")
        axes.set_xlabel("training step", fontsize=8)
        axes.set_ylabel("time steps back from the loss", fontsize=8)
        axes.tick_params(labelsize=7)

    return _render(draw, fmt)


def _edges(steps: np.ndarray) -> np.ndarray:
    """Cell edges around each column's step (midpoints; one step wide for a single column)."""
    if len(steps) == 1:
        return np.array([steps[0] - 0.5, steps[0] + 0.5])
    middle = (steps[1:] + steps[:-1]) / 2
    return np.concatenate([[2 * steps[0] - middle[0]], middle, [2 * steps[-1] - middle[-1]]])
