"""A sweep in one table (service/sweeps/summary.py), in process on a real SQLite database: the
counts of each cell and of the whole sweep by how its runs ended, the final metrics over the seeds
(missing and non-finite values left out), the ranking in the metric's own direction (ties: the
lower cell first), the sweep's status and progress."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rnnlab.service.schemas.experiments import MetricSummary, SweepCell
from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Job, Sweep, TrainedModel
from rnnlab.service.sweeps.summary import rank_cells, summarize, sweep_public, sweep_summary

CELLS = [{"hidden_size": 4}, {"hidden_size": 8}, {"hidden_size": 16}, {"hidden_size": 32}]
# (cell, seed, status, progress, error, final metrics of its model or None)
RUNS: list[tuple[int, int, str, float, str | None, dict[str, Any] | None]] = [
    (0, 2, "succeeded", 1.0, None, {"final_loss": 0.75, "final_accuracy": 0.5}),
    (0, 1, "succeeded", 1.0, None, {"final_loss": 0.25, "final_accuracy": 1.0, "test_loss": None}),
    (1, 1, "failed", 0.25, "loss became NaN at step 3", None),
    (1, 2, "failed", 0.5, "out of memory", None),
    (2, 1, "running", 0.5, None, None),
    (2, 2, "cancelled", 0.75, "early stopped: no better validation loss", None),
    (3, 1, "queued", 0.0, None, None),
    (3, 2, "succeeded", 1.0, None, {"final_loss": 0.375, "final_accuracy": 0.5, "steps": "nan"}),
]
EARLY_STOPPING = {"metric": "loss", "min_progress": 0.5, "min_peers": 2}


@pytest.fixture
def sweep_db(tmp_path: Path) -> Iterator[tuple[Database, int, list[int]]]:
    db = Database.connect(f"sqlite:///{tmp_path / 'rnnlab.db'}")
    upgrade(db)
    job_ids = []
    with db.write() as session:
        sweep = Sweep(
            task="binary_addition", name="widths", tags=["t"], hyperparams={"iterations": 10},
            grid={"hidden_size": [4, 8, 16, 32]}, cells=CELLS, seeds=[1, 2],
            metric="final_loss", early_stopping=EARLY_STOPPING,
        )  # fmt: skip
        session.add(sweep)
        session.flush()
        for cell, seed, status, progress, error, metrics in RUNS:
            job = Job(
                task="binary_addition", hyperparams={"seed": seed}, status=status,
                progress=progress, error=error, sweep_id=sweep.id, sweep_cell=cell,
            )  # fmt: skip
            session.add(job)
            session.flush()
            job_ids.append(job.id)
            if metrics is not None:
                metrics = {k: float(v) if isinstance(v, str) else v for k, v in metrics.items()}
                session.add(
                    TrainedModel(
                        job_id=job.id,
                        task="binary_addition",
                        hyperparams={},
                        metrics=metrics,
                        weights=b"w",
                        sha256="0" * 64,
                        size_bytes=1,
                    )
                )
        sweep_id = sweep.id
    yield db, sweep_id, job_ids
    db.dispose()


def test_the_table_counts_summarises_and_ranks_every_cell(sweep_db) -> None:
    db, sweep_id, job_ids = sweep_db
    with db.read() as session:
        sweep = session.get(Sweep, sweep_id)
        table = sweep_public(session, sweep, "final_loss").model_dump()
    assert table["status"] == "running"
    assert table["progress"] == (6 + 0.5) / 8  # six ended, one half way
    assert table["runs"] == 8
    assert table["counts"] == {
        "queued": 1, "running": 1, "succeeded": 3, "failed": 2, "cancelled": 1, "diverged": 1,
    }  # fmt: skip
    assert (table["ranked_by"], table["order"]) == ("final_loss", "ascending")
    assert table["early_stopping"] == EARLY_STOPPING
    assert (table["seeds"], table["grid"]) == ([1, 2], {"hidden_size": [4, 8, 16, 32]})
    assert table["hyperparams"] == {"iterations": 10}
    assert [(r["rank"], r["cell"], r["mean"], r["std"], r["n"]) for r in table["ranking"]] == [
        (1, 3, 0.375, 0.0, 1),
        (2, 0, 0.5, 0.25, 2),
    ]
    assert table["ranking"][0]["params"] == {"hidden_size": 32}
    cells = table["cells"]
    assert [c["params"] for c in cells] == CELLS
    counts = ("runs", "queued", "running", "succeeded", "diverged", "failed", "cancelled")
    assert [tuple(c[k] for k in (*counts, "early_stopped", "rank")) for c in cells] == [
        (2, 0, 0, 2, 0, 0, 0, 0, 2),
        (2, 0, 0, 0, 1, 1, 0, 0, None),
        (2, 0, 1, 0, 0, 0, 1, 1, None),
        (2, 1, 0, 1, 0, 0, 0, 0, 1),
    ]
    assert cells[0]["metrics"] == {
        "final_loss": {"mean": 0.5, "std": 0.25, "min": 0.25, "max": 0.75, "n": 2},
        "final_accuracy": {"mean": 0.75, "std": 0.25, "min": 0.5, "max": 1.0, "n": 2},
    }  # test_loss: None in one run, absent in the other: no summary
    assert cells[3]["metrics"] == {
        "final_loss": {"mean": 0.375, "std": 0.0, "min": 0.375, "max": 0.375, "n": 1},
        "final_accuracy": {"mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5, "n": 1},
    }  # steps: NaN, left out
    assert cells[1]["metrics"] == {} and cells[2]["metrics"] == {}
    # each cell's runs by seed, whatever order they were written in
    first = cells[0]["jobs"]
    assert [(r["seed"], r["job_id"], r["status"]) for r in first] == [
        (1, job_ids[1], "succeeded"),
        (2, job_ids[0], "succeeded"),
    ]
    assert first[0]["metrics"]["final_loss"] == 0.25 and first[0]["model_id"] is not None
    failed = cells[1]["jobs"]
    assert [(r["diverged"], r["early_stopped"], r["error"]) for r in failed] == [
        (True, False, "loss became NaN at step 3"),
        (False, False, "out of memory"),
    ]
    assert (failed[0]["model_id"], failed[0]["metrics"]) == (None, {})
    assert [(r["diverged"], r["early_stopped"]) for r in cells[2]["jobs"]] == [
        (False, False),
        (False, True),
    ]


def test_a_metric_where_higher_is_better_ranks_the_largest_mean_first(sweep_db) -> None:
    db, sweep_id, _ = sweep_db
    with db.read() as session:
        table = sweep_public(session, session.get(Sweep, sweep_id), "final_accuracy")
    assert table.order == "descending"
    assert [(r.rank, r.cell, r.mean) for r in table.ranking] == [(1, 0, 0.75), (2, 3, 0.5)]
    assert [c.rank for c in table.cells] == [1, None, None, 2]


def test_sweep_summary_is_the_tables_head(sweep_db) -> None:
    db, sweep_id, _ = sweep_db
    with db.read() as session:
        sweep = session.get(Sweep, sweep_id)
        head = sweep_summary(session, sweep).model_dump()
        table = sweep_public(session, sweep, "final_loss").model_dump()
    assert head == {key: table[key] for key in head}
    assert (head["id"], head["task"], head["name"], head["tags"]) == (
        sweep_id,
        "binary_addition",
        "widths",
        ["t"],
    )
    assert head["metric"] == "final_loss"


def cell(index: int, means: dict[str, float]) -> SweepCell:
    metrics = {k: MetricSummary(mean=m, std=0.0, min=m, max=m, n=1) for k, m in means.items()}
    return SweepCell(
        index=index, params={"i": index}, runs=1, queued=0, running=0, succeeded=1, diverged=0,
        failed=0, cancelled=0, early_stopped=0, metrics=metrics, rank=None, jobs=[],
    )  # fmt: skip


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_equal_means_rank_the_lower_cell_first(higher_is_better: bool) -> None:
    cells = [cell(0, {"m": 1.0}), cell(1, {"m": 2.0}), cell(2, {}), cell(3, {"m": 1.0})]
    ranking = rank_cells(cells, "m", higher_is_better)
    order = [1, 0, 3] if higher_is_better else [0, 3, 1]
    assert [(r.rank, r.cell, r.params) for r in ranking] == [
        (rank, index, {"i": index}) for rank, index in enumerate(order, start=1)
    ]
    assert [c.rank for c in cells] == [order.index(i) + 1 if i != 2 else None for i in range(4)]


def sweep_of(cancel_requested: bool = False) -> Sweep:
    return Sweep(
        id=7, task="binary_addition", name=None, tags=[], metric="final_loss",
        cancel_requested=cancel_requested, created_at=datetime(2026, 1, 1),
    )  # fmt: skip


def jobs_of(*statuses: str, progress: float = 0.5) -> list[Job]:
    return [Job(status=s, progress=progress, error=None) for s in statuses]


@pytest.mark.parametrize(
    ("statuses", "cancel_requested", "status", "progress"),
    [
        ((), False, "finished", 1.0),
        (("queued", "queued"), False, "queued", 0.0),
        (("queued", "running"), False, "running", 0.25),
        (("queued", "succeeded"), False, "running", 0.5),  # one ended: it has started
        (("queued", "cancelled"), True, "running", 0.5),
        (("running",), True, "running", 0.5),
        (("succeeded", "failed"), False, "finished", 1.0),
        (("succeeded", "cancelled"), True, "cancelled", 1.0),
        (("running", "running", "running"), False, "running", 0.5),
    ],
)
def test_a_sweeps_status_and_progress(
    statuses: tuple[str, ...], cancel_requested: bool, status: str, progress: float
) -> None:
    summary = summarize(sweep_of(cancel_requested), jobs_of(*statuses))
    assert (summary.status, summary.progress, summary.runs) == (status, progress, len(statuses))
    assert summary.counts == {
        **{s: statuses.count(s) for s in ("queued", "running", "succeeded", "failed", "cancelled")},
        "diverged": 0,
    }


def test_a_run_without_a_seed_a_late_error_and_a_cell_past_the_grid(tmp_path: Path) -> None:
    """A run whose hyperparameters name no seed has seed 0; only a cancelled run is early
    stopped, whatever its error says; a run pointing past the grid's cells is left out."""
    db = Database.connect(f"sqlite:///{tmp_path / 'rnnlab.db'}")
    upgrade(db)
    try:
        with db.write() as session:
            sweep = Sweep(
                task="binary_addition", name=None, tags=[], hyperparams={}, grid={},
                cells=[{}], seeds=[0], metric="final_loss", early_stopping=None,
            )  # fmt: skip
            session.add(sweep)
            session.flush()
            for cell, hyperparams, error in [
                (0, {}, None),
                (0, {"seed": 3}, "early stopped: not a cancel"),
                (5, {"seed": 4}, None),
            ]:
                status = "failed" if error else "succeeded"
                session.add(
                    Job(
                        task="binary_addition",
                        hyperparams=hyperparams,
                        status=status,
                        error=error,
                        sweep_id=sweep.id,
                        sweep_cell=cell,
                    )
                )
            sweep_id = sweep.id
        with db.read() as session:
            table = sweep_public(session, session.get(Sweep, sweep_id), "final_loss")
    finally:
        db.dispose()
    (only,) = table.cells
    assert [(r.seed, r.status, r.early_stopped) for r in only.jobs] == [
        (0, "succeeded", False),
        (3, "failed", False),
    ]
    assert (only.runs, only.failed, only.early_stopped) == (2, 1, 0)
    assert table.runs == 3  # the sweep's own count still has it
