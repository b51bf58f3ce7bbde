"""Downsampling for charts (service/charts/downsample.py), as properties over random series:
- `extremes` keeps the first and the last point, the lowest and the highest value of every equal
  step range, at most `max_points` points, in ascending order; a `max_points` too small for that
  is refused, never answered with more points than asked;
- `read_points` on a real SQLite database returns each series whole when it is short enough,
  else its extremes; steps ascend; `since_step` keeps exactly the points after that step.
The last point matters most: it is the newest value a chart shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from rnnlab.service.charts.downsample import MIN_MAX_POINTS, extremes, read_points
from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Job, Metric

SHAPES = ("noise", "ties", "rising", "falling", "spikes")


@st.composite
def series(draw: st.DrawFn, min_size: int = 1, max_size: int = 400) -> tuple[list[int], list]:
    """Steps strictly ascending from any start, with random gaps; values of one of a few shapes
    (ties make several candidates for a range's lowest). Drawn from a seed: long lists of
    hypothesis floats would cost more than the property."""
    size = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    start = draw(st.integers(0, 1000))
    steps = start + np.r_[0, np.cumsum(rng.integers(1, 50, size - 1))]
    shape = draw(st.sampled_from(SHAPES))
    if shape == "ties":
        vals = rng.choice([0.0, 1.0, -1.0, 2.5], size)
    elif shape == "rising":
        vals = np.sort(rng.normal(size=size))
    elif shape == "falling":
        vals = -np.sort(rng.normal(size=size))
    elif shape == "spikes":
        vals = np.where(rng.random(size) < 0.05, 1e6, 0.5)
    else:
        vals = rng.normal(scale=1e3, size=size)
    return [int(s) for s in steps], [float(np.float32(v)) for v in vals]


def ranges(steps: np.ndarray, max_points: int) -> np.ndarray:
    """The documented cut: (max_points - 2) // 2 equal step ranges from the first step to the
    last (at least one), each keeping its lowest and highest value."""
    count = max(1, (max_points - 2) // 2)
    span = steps[-1] - steps[0] + 1
    return (steps - steps[0]) * count // span


def assert_downsampled(steps: list[int], vals: list[float], kept: np.ndarray, max_points: int):
    steps_array, values_array = np.array(steps), np.array(vals, dtype=np.float64)
    kept_list = [int(i) for i in kept]
    assert kept_list == sorted(set(kept_list)), "indices ascend, none twice"
    assert kept_list[0] == 0, "the first point is kept"
    assert kept_list[-1] == len(steps) - 1, "the last point is kept"
    assert len(kept_list) <= max_points
    cut = ranges(steps_array, max_points)
    for index in np.unique(cut):
        members = np.flatnonzero(cut == index)
        in_range = values_array[members]
        kept_here = values_array[[i for i in kept_list if cut[i] == index]]
        assert kept_here.size, f"range {index} lost every point"
        assert kept_here.min() == in_range.min(), f"range {index} lost its lowest value"
        assert kept_here.max() == in_range.max(), f"range {index} lost its highest value"


@settings(max_examples=300, deadline=None)
@given(series(), st.integers(MIN_MAX_POINTS, 120))
def test_extremes_keep_both_ends_and_every_ranges_lowest_and_highest(data, max_points) -> None:
    steps, vals = data
    kept = extremes(np.array(steps, np.float64), np.array(vals, np.float64), max_points)
    assert_downsampled(steps, vals, kept, max_points)


@settings(max_examples=100, deadline=None)
@given(series(min_size=2), st.integers(MIN_MAX_POINTS, 40))
def test_the_last_point_is_kept_when_it_is_no_extreme(data, max_points) -> None:
    """The newest value sits strictly between its range's lowest and highest."""
    steps, vals = data
    vals = [float(i % 2) * 10 for i in range(len(vals))]
    vals[-1] = 5.0
    kept = extremes(np.array(steps, np.float64), np.array(vals, np.float64), max_points)
    assert int(kept[-1]) == len(steps) - 1


@settings(max_examples=50, deadline=None)
@given(series(), st.integers(-2, MIN_MAX_POINTS - 1))
def test_a_max_points_below_the_two_ends_and_one_range_is_refused(data, max_points) -> None:
    """One range's lowest and highest plus both ends are four points: asked for fewer, extremes
    answered with up to four; it refuses instead, whatever the series."""
    steps, vals = data
    with pytest.raises(ValueError, match="max_points must be at least"):
        extremes(np.array(steps, np.float64), np.array(vals, np.float64), max_points)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One database for the module: each example writes a job of its own."""
    path = Path(tmp_path_factory.mktemp("downsample")) / "rnnlab.db"
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db)
    yield db
    db.dispose()


def job_with(db: Database, named_series: dict[str, tuple[list[int], list[float]]]) -> int:
    with db.write() as session:
        job = Job(task="a-task", hyperparams={})
        session.add(job)
        session.flush()
        rows = [
            {"job_id": job.id, "name": name, "step": step, "value": value}
            for name, (steps, vals) in named_series.items()
            for step, value in zip(steps, vals, strict=True)
        ]
        session.execute(insert(Metric), rows)
        return job.id


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(st.sampled_from(["loss", "accuracy", "z"]), series(max_size=120), min_size=1),
    st.integers(10, 80),
    st.one_of(st.none(), st.integers(0, 3000)),
)
def test_read_points_returns_short_series_whole_and_long_ones_downsampled(
    database: Database, named_series, max_points: int, since_step: int | None
) -> None:
    job_id = job_with(database, named_series)
    with database.read() as session:
        rows, downsampled = read_points(session, job_id, None, since_step, max_points)
        whole, _ = read_points(session, job_id, None, since_step, None)

    keys = [(row.step, row.name) for row in rows]
    assert keys == sorted(keys), "ordered by step, then name"
    assert len(set(keys)) == len(keys)
    long_names = set()
    for name, (steps, vals) in named_series.items():
        pairs = zip(steps, vals, strict=True)
        after = [(s, v) for s, v in pairs if since_step is None or s > since_step]
        got = [(row.step, row.value) for row in rows if row.name == name]
        assert [(r.step, r.value) for r in whole if r.name == name] == after
        if len(after) <= max_points:
            assert got == after, f"{name}: a short series comes whole"
            continue
        long_names.add(name)
        index = {step: i for i, (step, _) in enumerate(after)}
        kept = np.array([index[step] for step, _ in got])
        assert_downsampled([s for s, _ in after], [v for _, v in after], kept, max_points)
    assert downsampled == bool(long_names)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(series(min_size=1, max_size=60), st.data())
def test_since_step_keeps_exactly_the_points_after_it(database: Database, data, draw) -> None:
    """At a step that exists, one before it and one after it: the boundary point is excluded
    when since_step names it, included when since_step is one below."""
    steps = data[0]
    job_id = job_with(database, {"loss": data})
    boundary = draw.draw(st.sampled_from(steps))
    for since_step in (boundary - 1, boundary, boundary + 1):
        for max_points in (None, 10):
            with database.read() as session:
                rows, _ = read_points(session, job_id, "loss", since_step, max_points)
            got = [row.step for row in rows]
            expected = [s for s in steps if s > since_step]
            if max_points is None or len(expected) <= max_points:
                assert got == expected, (since_step, max_points)
            else:
                assert got[0] == expected[0] and got[-1] == expected[-1]
                assert all(s > since_step for s in got)


def test_read_points_refuses_a_max_points_too_small_for_its_bound(database: Database) -> None:
    """Refused before reading, so the answer does not depend on how long the series are."""
    job_id = job_with(database, {"loss": ([0, 1], [0.5, 0.25])})
    with database.read() as session:
        for max_points in range(-1, MIN_MAX_POINTS):
            with pytest.raises(ValueError, match="max_points must be at least"):
                read_points(session, job_id, None, None, max_points)
        rows, downsampled = read_points(session, job_id, None, None, MIN_MAX_POINTS)
    assert [row.step for row in rows] == [0, 1] and not downsampled


def test_paging_with_last_step_reads_each_point_once(database: Database) -> None:
    """A client reading on from the last step it got (GET /jobs/{id}/metrics's last_step as
    since_step) is sent every point once."""
    steps = list(range(0, 50, 3))
    job_id = job_with(database, {"loss": (steps, [float(s) for s in steps])})
    seen: list[int] = []
    since: int | None = None
    for _ in range(len(steps) + 1):
        with database.read() as session:
            rows, _ = read_points(session, job_id, "loss", since, None)
        if not rows:
            break
        seen += [row.step for row in rows[:4]]  # a client that got the first few only
        since = rows[:4][-1].step
    assert seen == steps


def job_with_rows(db: Database, rows: list[tuple[str, int, float]]) -> int:
    """A job whose points are written in exactly this order (ids ascend with it)."""
    with db.write() as session:
        job = Job(task="a-task", hyperparams={})
        session.add(job)
        session.flush()
        values = [{"job_id": job.id, "name": n, "step": s, "value": v} for n, s, v in rows]
        session.execute(insert(Metric), values)
        return job.id


def test_whole_series_come_by_step_then_name_whatever_order_they_were_written(
    database: Database,
) -> None:
    """Written newest first and names out of order: read by step, then by name, and said not to
    be downsampled."""
    written = [("z", 2, 0.0), ("a", 2, 0.0), ("z", 1, 0.0), ("a", 1, 0.0), ("m", 0, 0.0)]
    job_id = job_with_rows(database, written)
    for max_points in (None, 10):
        with database.read() as session:
            rows, downsampled = read_points(session, job_id, None, None, max_points)
        assert [(row.step, row.name) for row in rows] == [
            (0, "m"), (1, "a"), (1, "z"), (2, "a"), (2, "z"),
        ]  # fmt: skip
        assert downsampled is False


def test_more_than_a_thousand_kept_points_come_each_once(database: Database) -> None:
    """The kept points are read back in chunks of a thousand ids: none lost between two chunks,
    none read twice."""
    steps = list(range(2500))
    values = [float((s * 37) % 101) for s in steps]
    job_id = job_with(database, {"loss": (steps, values)})
    with database.read() as session:
        rows, downsampled = read_points(session, job_id, None, None, 2400)
    kept = extremes(np.array(steps, np.float64), np.array(values, np.float64), 2400)
    assert len(kept) > 2000
    assert [row.step for row in rows] == [steps[i] for i in kept]
    assert downsampled is True


def test_a_series_of_exactly_max_points_comes_whole(database: Database) -> None:
    """max_points is a bound the answer may reach: at it, nothing is dropped."""
    steps = list(range(12))
    values = [float((s * 5) % 7) for s in steps]  # extremes of 12 points in 5 ranges: fewer
    job_id = job_with(database, {"loss": (steps, values)})
    assert len(extremes(np.array(steps, np.float64), np.array(values, np.float64), 12)) < 12
    with database.read() as session:
        rows, downsampled = read_points(session, job_id, None, None, 12)
    assert [(row.step, row.value) for row in rows] == list(zip(steps, values, strict=True))
    assert downsampled is False
