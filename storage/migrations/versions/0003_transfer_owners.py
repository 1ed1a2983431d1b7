"""Transfer owners: who took a blocked or stalled transfer on, and since when."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision ID: 0003; revises: 0002; created 2026-12-04
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tracked_transfers", sa.Column("owner_id", sa.String(length=64), nullable=True))
    op.add_column(
        "tracked_transfers", sa.Column("owned_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_tracked_transfers_owner_id"), "tracked_transfers", ["owner_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tracked_transfers_owner_id"), table_name="tracked_transfers")
    with op.batch_alter_table("tracked_transfers") as batch:  # SQLite rebuilds the table
        batch.drop_column("owned_at")
        batch.drop_column("owner_id")
