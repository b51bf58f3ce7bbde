"""checkpoint_parts: a checkpoint written in parts, each in its own short transaction

A checkpoint of tens of MB written in one transaction held SQLite's write lock for a second
and more, and every other write (a cancel, a submit) waited behind it. Its bytes now go in
parts of a few MB under a new `generation`; one short transaction then points the job's
checkpoint at that generation. `checkpoints.state` stays for checkpoints written before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_parts",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "generation", "part"),
    )
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_column("generation")
    op.drop_table("checkpoint_parts")
