"""continued models: a job and its model record the model they trained further from

`POST /train` with `init_from_model` starts a job from a trained model's weights. The job keeps
that model's id and whether it took over the optimiser state of the model's job checkpoint;
the model it trains keeps its parent's id. Deleting a parent leaves its children, without the
link: the deletion sets both to NULL itself. Neither is a foreign key: one from jobs to models
would close a cycle with models.job_id, and SQLite adds one to `models` only by rebuilding the
table, which the aliases' RESTRICT key and the triggers of migration 0006 forbid. Existing rows
keep every value and have no parent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN keeps the tables (and the triggers on `models`, migration 0006) as they are:
    # no table is rebuilt, so no row is copied.
    op.add_column("jobs", sa.Column("parent_model_id", sa.Integer(), nullable=True))
    op.add_column("jobs", sa.Column("optimizer_state", sa.String(length=16), nullable=True))
    op.add_column("models", sa.Column("parent_model_id", sa.Integer(), nullable=True))
    op.create_index("ix_jobs_parent_model_id", "jobs", ["parent_model_id"])
    op.create_index("ix_models_parent_model_id", "models", ["parent_model_id"])


def downgrade() -> None:
    op.drop_index("ix_models_parent_model_id", table_name="models")
    op.drop_index("ix_jobs_parent_model_id", table_name="jobs")
    op.drop_column("models", "parent_model_id")
    op.drop_column("jobs", "optimizer_state")
    op.drop_column("jobs", "parent_model_id")
