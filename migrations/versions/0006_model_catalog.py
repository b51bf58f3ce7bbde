"""model_catalog: one number that grows with every change to the models or their aliases

The web process answers `/predict` from memory when it knows which model a request means (the
newest of a task, an alias). It must see a model the moment its job shows `succeeded`, and
never answer from a deleted one, so each request asks whether anything changed: on SQLite
`PRAGMA data_version` told it, but PostgreSQL has no such thing, and each request there asked
the catalog itself (an ORM session and two queries in the threadpool). Triggers now count
every insert, update and delete of `models` and `model_aliases` in the one row of
`model_catalog`, in the writer's own transaction; reading that row is the whole check, on both
databases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = {"models": ("INSERT", "DELETE"), "model_aliases": ("INSERT", "UPDATE", "DELETE")}
BUMP = "UPDATE model_catalog SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "model_catalog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO model_catalog (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION rnnlab_count_model_change() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table, events in COUNTED.items():
            op.execute(
                f"CREATE TRIGGER {table}_counted AFTER {' OR '.join(events)} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION rnnlab_count_model_change()"
            )
    else:  # SQLite: a trigger per event, each row
        for table, events in COUNTED.items():
            for event in events:
                op.execute(
                    f"CREATE TRIGGER {table}_counted_{event.lower()} AFTER {event} ON {table} "
                    f"BEGIN {BUMP}; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in COUNTED:
            op.execute(f"DROP TRIGGER {table}_counted ON {table}")
        op.execute("DROP FUNCTION rnnlab_count_model_change()")
    else:
        for table, events in COUNTED.items():
            for event in events:
                op.execute(f"DROP TRIGGER {table}_counted_{event.lower()}")
    op.drop_table("model_catalog")
