"""The schema comes from the migrations, matches the ORM, and concurrent writers never fail."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from rnnlab.service.store.db import Database, postgres_connect_args
from rnnlab.service.store.migrate import alembic_config, upgrade
from rnnlab.service.store.tables import Base, Job, Metric, TrainedModel
from tests.conftest import POSTGRES_URL, postgres_available

POSTGRES_SKIP = pytest.mark.skipif(
    not postgres_available(), reason=f"PostgreSQL is not reachable at {POSTGRES_URL}"
)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=[POSTGRES_SKIP, pytest.mark.postgres])]
)
def database(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        db = Database.connect(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        # A database of its own, not the shared one: another test run on this machine may
        # be migrating that to another revision at the same moment.
        db = Database.connect(request.getfixturevalue("postgres_url"))
    yield db
    db.dispose()


def test_migrations_create_exactly_the_orm_schema(database: Database) -> None:
    upgrade(database)
    with database.read_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_twice_is_a_no_op(database: Database) -> None:
    upgrade(database)
    upgrade(database)
    with database.read() as session:
        version = session.scalar(text("SELECT version_num FROM alembic_version"))
    head = ScriptDirectory.from_config(alembic_config(database.url)).get_current_head()
    assert version == head


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'x.db'}")
    with db.read() as session:
        assert session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert session.scalar(text("PRAGMA foreign_keys")) == 1
        assert session.scalar(text("PRAGMA busy_timeout")) >= 5000


def _hammer(url: str, worker: int, rounds: int) -> None:
    db = Database.connect(url)
    for step in range(rounds):
        # Read-then-write transactions: the pattern that fails at once with a deferred BEGIN.
        with db.write() as session:
            job = session.scalars(select(Job).order_by(Job.id).limit(1)).one()
            job.progress = step / rounds
            session.add(Metric(job_id=job.id, name=f"w{worker}", step=step, value=float(step)))
    db.dispose()


def test_concurrent_writers_never_see_database_is_locked(database: Database) -> None:
    upgrade(database)
    with database.write() as session:
        session.add(Job(task="binary_addition", hyperparams={}))
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_hammer, args=(database.url, i, 150)) for i in range(3)]
    for process in writers:
        process.start()
    _hammer(database.url, 99, 150)
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Metric)) == 4 * 150


# A database at revision 0006, as an older rnnlab left it: two trained jobs, the newest with an
# alias, each with the rows that refer to it.
ROWS_AT_0006 = [
    "INSERT INTO corpora VALUES (1, 'c', 1, 1, 1, 1, 0.0, 's', '{}', x'00', 'uint8', '2026-01-01')",
    "INSERT INTO sweeps VALUES (1, 't', NULL, '[]', '{}', '{}', '[]', '[]', 'loss', NULL, 0, "
    "'2026-01-01')",
    *[
        statement.format(id=job_id)
        for job_id in (1, 2)
        for statement in (
            "INSERT INTO jobs (id, task, hyperparams, status, progress, attempt, "
            "cancel_requested, created_at, sweep_id, corpus_id) "
            "VALUES ({id}, 't', '{{}}', 'succeeded', 1.0, 1, 0, '2026-01-01', 1, 1)",
            "INSERT INTO metrics (job_id, name, step, value, timestamp) "
            "VALUES ({id}, 'loss', 1, 0.5, '2026-01-01')",
            "INSERT INTO job_records (job_id, kind, step, payload, timestamp) "
            "VALUES ({id}, 'sums', 1, '{{}}', '2026-01-01')",
            "INSERT INTO job_tags VALUES ({id}, 'tag')",
            "INSERT INTO checkpoints VALUES ({id}, 1, x'00', 's', '2026-01-01', NULL)",
            "INSERT INTO models (id, job_id, task, hyperparams, metrics, corpus_id, weights, "
            "sha256, size_bytes, created_at) "
            "VALUES ({id}, {id}, 't', '{{}}', '{{}}', 1, x'00', 's', 1, '2026-01-01')",
        )
    ],
    "INSERT INTO model_aliases VALUES ('t', 'default', 2, '2026-01-01')",
]
ROW_TABLES = (
    "corpora", "sweeps", "jobs", "metrics", "job_records", "job_tags", "checkpoints", "models",
    "model_aliases",
)  # fmt: skip


def _row_counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        count = "SELECT count(*) FROM {}"
        return {table: session.scalar(text(count.format(table))) for table in ROW_TABLES}


def test_ids_never_reused_migration_keeps_every_row_on_sqlite(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db, "0006")
    with db.write() as session:
        for statement in ROWS_AT_0006:
            session.execute(text(statement))
    before = _row_counts(db)

    upgrade(db)

    assert _row_counts(db) == before
    with db.write() as session:
        assert session.execute(text("PRAGMA foreign_key_check")).all() == []
        version = session.scalar(text("SELECT version FROM model_catalog"))
        session.execute(text("DELETE FROM model_aliases"))
        session.execute(text("DELETE FROM models WHERE id = 2"))
        session.execute(text("DELETE FROM jobs WHERE id = 2"))
        # the catalog still counts every change to the models (its triggers came back)
        assert session.scalar(text("SELECT version FROM model_catalog")) == version + 2
        assert session.scalar(text("SELECT count(*) FROM metrics WHERE job_id = 2")) == 0
        job = Job(task="t", hyperparams={})
        session.add(job)
        session.flush()
        assert job.id == 3
    db.dispose()


def test_a_deleted_newest_id_is_never_given_again(database: Database) -> None:
    upgrade(database)
    with database.write() as session:
        jobs = [Job(task="t", hyperparams={}) for _ in range(2)]
        session.add_all(jobs)
    newest = jobs[-1].id
    with database.write() as session:
        session.execute(text(f"DELETE FROM jobs WHERE id = {newest}"))
    with database.write() as session:
        job = Job(task="t", hyperparams={})
        session.add(job)
    assert job.id > newest


def test_the_continued_models_migration_keeps_every_job_and_model(database: Database) -> None:
    """0008 adds the parent columns to tables that already hold rows: they keep every value,
    and have no parent."""
    upgrade(database, "0006")
    with database.write() as session:
        session.execute(
            text(
                "INSERT INTO jobs (id, task, hyperparams, status, progress, attempt, "
                "cancel_requested, created_at) VALUES (7, 'binary_addition', "
                "'{\"hidden_size\": 8}', 'succeeded', 1.0, 1, false, CURRENT_TIMESTAMP)"
            )
        )
        session.execute(
            text(
                "INSERT INTO models (id, job_id, task, hyperparams, metrics, weights, sha256, "
                "size_bytes, created_at) VALUES (3, 7, 'binary_addition', '{\"hidden_size\": 8}', "
                "'{\"final_accuracy\": 1.0}', :weights, 'abc', 4, CURRENT_TIMESTAMP)"
            ),
            {"weights": b"\x00\x01\x02\x03"},
        )
    upgrade(database)
    with database.read() as session:
        model = session.get(TrainedModel, 3)
        assert model is not None and model.job_id == 7
        assert (model.hyperparams, model.metrics) == ({"hidden_size": 8}, {"final_accuracy": 1.0})
        assert (model.weights, model.parent_model_id) == (b"\x00\x01\x02\x03", None)
        job = session.get(Job, 7)
        assert job is not None and job.status == "succeeded" and job.model is not None
        assert (job.parent_model_id, job.optimizer_state) == (None, None)


def test_postgresql_connections_skip_gssapi_unless_the_url_asks_for_it() -> None:
    """libpq's GSSAPI path is not fork-safe (Celery forks pool processes beside a thread that
    connects): every PostgreSQL connection is opened without it and with a connect timeout,
    unless the URL says otherwise; SQLite's connections take neither."""
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert postgres_connect_args(url) == {"connect_timeout": 5, "gssencmode": "disable"}
    assert postgres_connect_args(f"{url}?gssencmode=prefer") == {"connect_timeout": 5}
    assert postgres_connect_args("sqlite:///rnnlab.db") == {}
