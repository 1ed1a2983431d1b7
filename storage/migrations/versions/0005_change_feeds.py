"""Change feeds: each account's event-feed lease and health, and the feed entries handled."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision ID: 0005; revises: 0004; created 2026-12-07
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_feeds",
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_change_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("down_alerted", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("silent_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_change_feeds")),
    )
    op.create_table(
        "seen_changes",
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("change_id", sa.String(length=64), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "change_id", name=op.f("pk_seen_changes")),
    )
    op.create_index(op.f("ix_seen_changes_seen_at"), "seen_changes", ["seen_at"])
    op.create_index(op.f("ix_seen_changes_account_ref"), "seen_changes", ["account", "ref"])


def downgrade() -> None:
    op.drop_table("seen_changes")  # its indexes go with it
    op.drop_table("change_feeds")
