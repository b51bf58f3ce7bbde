"""job_records: the teaching records a job stores beside its metrics

Fixed sums and each bit's accuracy (binary addition), the gradient's norm at each time step,
generated text (next word): JSON payloads by kind and step, read past a row id by event
streams and by GET /jobs/{id}/records.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "kind", "step", name="uq_job_records_job_kind_step"),
    )
    with op.batch_alter_table("job_records", schema=None) as batch_op:
        batch_op.create_index("ix_job_records_job_id_id", ["job_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_records", schema=None) as batch_op:
        batch_op.drop_index("ix_job_records_job_id_id")
    op.drop_table("job_records")
