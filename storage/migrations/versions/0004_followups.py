"""Follow-ups: the reminder and deadline clock on a stuck transfer (table followups)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision ID: 0004; revises: 0003; created 2026-12-07
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("raw_code", sa.String(length=64), nullable=False),
        sa.Column("stuck", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["tracked_transfers.id"],
            name=op.f("fk_followups_transfer_id_tracked_transfers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_followups")),
    )
    op.create_index(op.f("ix_followups_due_at"), "followups", ["due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_followups_due_at"), table_name="followups")
    op.drop_table("followups")
