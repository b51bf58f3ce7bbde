"""A job's metric points, read incrementally and downsampled for charts.

A million-point run draws from one request of a few hundred points: each series (one metric name)
longer than `max_points` is cut into equal step ranges, and of each range only the points with
the lowest and the highest value are kept, at their own steps, plus the series' first and last
point (the M4 idea, as in min/max decimation of oscilloscopes). Spikes and the envelope of a noisy
curve survive, unlike with every n-th point. The extremes are found with numpy over (step, value)
columns: one sequential read, where the same in SQL (window functions or a join on each range's
extremes) was far slower in SQLite on a million-point run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from rnnlab.service.store.tables import Metric

MAX_POINTS = 10_000  # per series and request: a chart never needs more
# The fewest a downsampled series can keep: its first and last point, one range's lowest and
# highest. Fewer is refused rather than answered with more than asked (the API asks for 10+).
MIN_MAX_POINTS = 4
Point = Row[int, str, int, float, datetime]  # id, name, step, value, timestamp
POINT_COLUMNS = (Metric.id, Metric.name, Metric.step, Metric.value, Metric.timestamp)


def read_points(
    session: Session,
    job_id: int,
    name: str | None = None,
    since_step: int | None = None,
    max_points: int | None = None,
) -> tuple[list[Point], bool]:
    """(points ordered by step then name, whether any series was downsampled); at most
    `max_points` points per series, which is at least MIN_MAX_POINTS (else a ValueError)."""
    if max_points is not None:
        _check(max_points)
    where: list[Any] = [Metric.job_id == job_id]
    if name is not None:
        where.append(Metric.name == name)
    if since_step is not None:
        where.append(Metric.step > since_step)
    if max_points is None:
        query = select(*POINT_COLUMNS).where(*where).order_by(Metric.step, Metric.name)
        return list(session.execute(query).all()), False

    sizes = session.execute(select(Metric.name, func.count()).where(*where).group_by(Metric.name))
    long_series = [series for series, count in sizes if count > max_points]
    kept_ids: list[int] = []
    for series in long_series:
        result = session.connection().execute(
            select(Metric.id, Metric.step, Metric.value)
            .where(*where, Metric.name == series)
            .order_by(Metric.step)
        )
        # The driver's plain tuples: wrapping each in a Row, and numpy reading those, cost far
        # more than the query itself.
        table = np.array(result.cursor.fetchall(), dtype=np.float64)
        result.close()
        kept = extremes(table[:, 1], table[:, 2], max_points)
        kept_ids += table[kept, 0].astype(np.int64).tolist()
    short = select(*POINT_COLUMNS).where(*where, Metric.name.not_in(long_series))
    rows = list(session.execute(short).all())
    for start in range(0, len(kept_ids), 1000):  # bound the parameters of one statement
        chunk = kept_ids[start : start + 1000]
        rows += session.execute(select(*POINT_COLUMNS).where(Metric.id.in_(chunk))).all()
    rows.sort(key=lambda row: (row.step, row.name))
    return rows, bool(long_series)


def extremes(steps: NDArray, values: NDArray, max_points: int) -> NDArray[np.int64]:
    """Indices (ascending) of at most `max_points` points of a series sorted by step: the lowest
    and the highest value of each equal step range, the first and the last point. `max_points`
    is at least MIN_MAX_POINTS (else a ValueError): `(max_points - 2) // 2` ranges keep two
    points each, the ends two more."""
    _check(max_points)
    buckets = (max_points - 2) // 2
    span = steps[-1] - steps[0] + 1
    bucket = ((steps - steps[0]) * buckets // span).astype(np.int64)
    order = np.lexsort((values, bucket))  # by range, then by value within it
    sorted_bucket = bucket[order]
    first_in_range = np.flatnonzero(np.r_[True, sorted_bucket[1:] != sorted_bucket[:-1]])
    last_in_range = np.r_[first_in_range[1:] - 1, len(order) - 1]
    ends = np.array([0, len(steps) - 1])
    return np.unique(np.concatenate([order[first_in_range], order[last_in_range], ends]))


def _check(max_points: int) -> None:
    if max_points < MIN_MAX_POINTS:
        raise ValueError(
            f"max_points must be at least {MIN_MAX_POINTS} (a series' two ends and a range's "
            f"lowest and highest value), not {max_points}"
        )
