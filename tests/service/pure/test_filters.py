"""The filters of GET /jobs and GET /models and the sort keys of models
(service/catalog/filters.py), in process on a real SQLite database: each filter alone keeps
exactly the runs it names, filters given together keep only the runs that match all of them, and
`?sort=` orders by its key either way with missing metrics last, the newest model first among
equals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rnnlab.service.catalog.filters import filter_jobs, filter_models, model_order
from rnnlab.service.errors import InvalidInput
from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Job, JobTag, ModelAlias, Sweep, TrainedModel

# name: (task, status, run name, tags, sweep, model's metrics and size or None)
JOBS: dict[str, tuple[str, str, str | None, list[str], str | None, Any]] = {
    "j1": ("binary_addition", "succeeded", "alpha", ["a"], "s1", ({"final_loss": 0.5}, 300)),
    "j2": ("binary_addition", "failed", "beta", ["a", "b"], None, ({"final_loss": 0.5}, 100)),
    "j3": ("next_word", "succeeded", "alpha", ["b"], "s2", ({"test_loss": 2.0}, 200)),
    "j4": ("next_word", "queued", None, [], "s1", None),
    "j5": ("binary_addition", "succeeded", "gamma", [], "s2", ({"final_loss": 0.125}, 400)),
}
ALIASES = [
    ("binary_addition", "best", "j5"),
    ("next_word", "best", "j3"),
    ("binary_addition", "prod", "j1"),
]


class Catalog:
    """The database and the ids its rows got, by the names above."""

    def __init__(self, db: Database, jobs: dict[str, int], models: dict[str, int], sweeps) -> None:
        self.db, self.jobs, self.models, self.sweeps = db, jobs, models, sweeps

    def job_names(self, **filters: Any) -> list[str]:
        names = {v: k for k, v in self.jobs.items()}
        with self.db.read() as session:
            query = filter_jobs(select(Job.id).order_by(Job.id), **filters)
            return [names[i] for i in session.scalars(query)]

    def model_names(self, query: Any) -> list[str]:
        names = {v: k for k, v in self.models.items()}
        with self.db.read() as session:
            return [names[i] for i in session.scalars(query)]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    db = Database.connect(f"sqlite:///{Path(tmp_path_factory.mktemp('filters')) / 'rnnlab.db'}")
    upgrade(db)
    jobs: dict[str, int] = {}
    models: dict[str, int] = {}
    with db.write() as session:
        sweeps = {}
        for name in ("s1", "s2"):
            sweep = Sweep(
                task="binary_addition", name=name, tags=[], hyperparams={}, grid={},
                cells=[{}], seeds=[0], metric="final_loss", early_stopping=None,
            )  # fmt: skip
            session.add(sweep)
            session.flush()
            sweeps[name] = sweep.id
        for key, (task, status, run_name, tags, sweep_name, model) in JOBS.items():
            job = Job(
                task=task, hyperparams={}, status=status, name=run_name,
                sweep_id=sweeps[sweep_name] if sweep_name else None,
            )  # fmt: skip
            session.add(job)
            session.flush()
            jobs[key] = job.id
            session.add_all(JobTag(job_id=job.id, tag=tag) for tag in tags)
            if model is not None:
                metrics, size = model
                row = TrainedModel(
                    job_id=job.id, task=task, hyperparams={}, metrics=metrics, weights=b"w",
                    sha256="0" * 64, size_bytes=size,
                )  # fmt: skip
                session.add(row)
                session.flush()
                models[key] = row.id
        for task, alias, key in ALIASES:
            session.add(ModelAlias(task=task, alias=alias, model_id=models[key]))
    yield Catalog(db, jobs, models, sweeps)
    db.dispose()


def test_no_filter_keeps_every_job(catalog: Catalog) -> None:
    assert catalog.job_names() == ["j1", "j2", "j3", "j4", "j5"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "succeeded"}, ["j1", "j3", "j5"]),
        ({"status": "queued"}, ["j4"]),
        ({"task": "next_word"}, ["j3", "j4"]),
        ({"name": "alpha"}, ["j1", "j3"]),
        ({"tag": "a"}, ["j1", "j2"]),
        ({"tag": "b"}, ["j2", "j3"]),
        ({"tag": "none has it"}, []),
        ({"sweep": "s1"}, ["j1", "j4"]),
        ({"sweep": "s2"}, ["j3", "j5"]),
        # together: only what matches every one of them
        ({"status": "succeeded", "task": "binary_addition"}, ["j1", "j5"]),
        ({"task": "binary_addition", "tag": "b"}, ["j2"]),
        ({"name": "alpha", "sweep": "s2"}, ["j3"]),
        ({"status": "succeeded", "name": "alpha", "tag": "a", "sweep": "s1"}, ["j1"]),
        ({"status": "failed", "sweep": "s1"}, []),
        ({"tag": "b", "name": "beta"}, ["j2"]),
    ],
)
def test_job_filters(catalog: Catalog, filters: dict[str, Any], expected: list[str]) -> None:
    if "sweep" in filters:
        filters = {**filters, "sweep": catalog.sweeps[filters["sweep"]]}
    assert catalog.job_names(**filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["j1", "j2", "j3", "j5"]),
        ({"task": "binary_addition"}, ["j1", "j2", "j5"]),
        ({"name": "alpha"}, ["j1", "j3"]),
        ({"name": "beta"}, ["j2"]),
        ({"sweep": "s1"}, ["j1"]),  # j4, in s1 too, has no model
        ({"sweep": "s2"}, ["j3", "j5"]),
        ({"name": "alpha", "sweep": "s2"}, ["j3"]),
        ({"name": "gamma", "sweep": "s1"}, []),
        ({"tag": "a"}, ["j1", "j2"]),
        ({"tag": "b"}, ["j2", "j3"]),
        ({"alias": "best"}, ["j3", "j5"]),
        ({"alias": "prod"}, ["j1"]),
        ({"alias": "nobody's"}, []),
        ({"task": "binary_addition", "alias": "best"}, ["j5"]),
        ({"task": "binary_addition", "tag": "b"}, ["j2"]),
        ({"tag": "a", "alias": "prod", "name": "alpha", "sweep": "s1"}, ["j1"]),
        ({"tag": "b", "alias": "best"}, ["j3"]),
    ],
)
def test_model_filters(catalog: Catalog, filters: dict[str, Any], expected: list[str]) -> None:
    if "sweep" in filters:
        filters = {**filters, "sweep": catalog.sweeps[filters["sweep"]]}
    query = filter_models(select(TrainedModel.id).order_by(TrainedModel.id), **filters)
    assert catalog.model_names(query) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("id", ["j1", "j2", "j3", "j5"]),
        ("-id", ["j5", "j3", "j2", "j1"]),
        ("size_bytes", ["j2", "j3", "j1", "j5"]),
        ("-size_bytes", ["j5", "j1", "j3", "j2"]),
        # equal final losses (j1, j2): the newer model first; no final loss (j3): last
        ("final_loss", ["j5", "j2", "j1", "j3"]),
        ("-final_loss", ["j2", "j1", "j5", "j3"]),
        ("test_loss", ["j3", "j5", "j2", "j1"]),
        ("-test_loss", ["j3", "j5", "j2", "j1"]),
    ],
)
def test_model_order(catalog: Catalog, sort: str, expected: list[str]) -> None:
    query = select(TrainedModel.id).order_by(*model_order(sort))
    assert catalog.model_names(query) == expected


@pytest.mark.parametrize("sort", ["weights", "-weights", "--id", "Id", "", "-", "id "])
def test_an_unknown_sort_key_is_refused_naming_the_keys(sort: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        model_order(sort)
    message = str(refused.value)
    assert message.startswith(f"unknown sort key {sort!r}: use one of id, created_at, size_bytes, ")
    assert "final_loss" in message and "test_perplexity" in message
    assert message.endswith("with a leading '-' for descending")
