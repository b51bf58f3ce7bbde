"""ids never reused: SQLite's AUTOINCREMENT on the tables whose ids are public

A client holds ids: `/predict?model=4`, `/models/4/weights.npz`, an alias's
`previous_model_id`, a job it follows. SQLite gives a new row the largest id in the table plus
one, so deleting the newest model and its job and training again handed the same ids to
another model and job, and every id a client held for them silently meant the new ones.
AUTOINCREMENT keeps the largest id ever given in `sqlite_sequence` and never goes below it.
It can only be declared when a table is created: jobs, models, sweeps and corpora are
recreated in batch mode, rows, indexes and constraints kept; copying the rows sets each
table's sequence to its largest id. The rows of metrics and job_records are ids of a job's
event stream, always read with their job, whose id is now never reused.

`rnnlab.service.store.migrate.upgrade` runs the migrations with SQLite's foreign keys off, as
SQLite prescribes for recreating a table others refer to (dropping the old table would
otherwise delete the rows that refer to it); this revision checks them before it ends.

PostgreSQL's sequences never go back: nothing changes there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC_ID_TABLES = ("corpora", "sweeps", "jobs", "models")
# Dropping `models` drops the triggers migration 0006 put on it: they are made again.
MODEL_TRIGGERS = ("INSERT", "DELETE")
BUMP = "UPDATE model_catalog SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    _recreate(autoincrement=True)


def downgrade() -> None:
    _recreate(autoincrement=False)


def _recreate(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "recreating tables with SQLite's foreign keys on would delete the rows that refer "
            "to them: run the migrations through rnnlab (rnnlab db upgrade)"
        )
    for table in PUBLIC_ID_TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    for event in MODEL_TRIGGERS:
        op.execute(
            f"CREATE TRIGGER models_counted_{event.lower()} AFTER {event} ON models "
            f"BEGIN {BUMP}; END"
        )
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rows refer to rows that do not exist after the copy: {broken[:5]}")
