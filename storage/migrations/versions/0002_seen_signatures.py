"""Seen signatures: signed Slack requests let in, shared by every replica for five minutes."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision ID: 0002; revises: 0001; created 2026-12-04
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_signatures",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_seen_signatures")),
    )
    op.create_index(op.f("ix_seen_signatures_signed_at"), "seen_signatures", ["signed_at"])


def downgrade() -> None:
    op.drop_table("seen_signatures")  # its index goes with it
