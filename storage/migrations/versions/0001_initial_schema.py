"""Initial schema: tracked transfers, events, action requests, secrets, alerts, health, audit."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision ID: 0001; revises: nothing; created 2026-11-22
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    # storage.types.UTCDateTime stores through this type; migrations keep plain types.
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "account_health",
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        _utc("failing_since", nullable=True),
        _utc("last_ok_at", nullable=True),
        sa.Column("outage_alerted", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _utc("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_account_health")),
    )
    op.create_table(
        "tracked_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("short_id", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("raw_code", sa.String(length=64), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=False),
        sa.Column("waiting_for", sa.Text(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        _utc("changed_at", nullable=True),
        _utc("first_seen_at", nullable=False),
        _utc("updated_at", nullable=False),
        sa.Column("watching", sa.Boolean(), nullable=False),
        sa.Column("watched_by", sa.String(length=64), nullable=True),
        _utc("next_poll_at", nullable=True),
        sa.Column("poll_interval_seconds", sa.Float(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        _utc("lease_expires_at", nullable=True),
        _utc("last_polled_at", nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("alert_channel", sa.String(length=32), nullable=True),
        sa.Column("alert_ts", sa.String(length=32), nullable=True),
        sa.Column("stalled_alerted_for", sa.String(length=64), nullable=True),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["tracked_transfers.id"],
            name=op.f("fk_tracked_transfers_superseded_by_id_tracked_transfers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["tracked_transfers.id"],
            name=op.f("fk_tracked_transfers_supersedes_id_tracked_transfers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_transfers")),
        sa.UniqueConstraint("account", "ref", name=op.f("uq_tracked_transfers_account_ref")),
        sa.UniqueConstraint("short_id", name=op.f("uq_tracked_transfers_short_id")),
    )
    op.create_index(
        op.f("ix_tracked_transfers_watching_next_poll_at"),
        "tracked_transfers",
        ["watching", "next_poll_at"],
    )
    op.create_table(
        "action_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("has_secret", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        _utc("decided_at", nullable=True),
        _utc("started_at", nullable=True),
        _utc("finished_at", nullable=True),
        sa.Column("result_message", sa.Text(), nullable=True),
        sa.Column("new_ref", sa.String(length=255), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        _utc("created_at", nullable=False),
        _utc("expires_at", nullable=False),
        _utc("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["tracked_transfers.id"],
            name=op.f("fk_action_requests_transfer_id_tracked_transfers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_requests")),
    )
    op.create_index(
        op.f("ix_action_requests_state_expires_at"), "action_requests", ["state", "expires_at"]
    )
    op.create_index(op.f("ix_action_requests_transfer_id"), "action_requests", ["transfer_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=True),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _utc("created_at", nullable=False),
        _utc("updated_at", nullable=False),
        _utc("posted_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["tracked_transfers.id"],
            name=op.f("fk_alerts_transfer_id_tracked_transfers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_alerts_key")),
    )
    op.create_index(op.f("ix_alerts_state"), "alerts", ["state"])
    op.create_table(
        "transfer_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        _utc("at", nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column("raw_code", sa.String(length=64), nullable=True),
        sa.Column("raw_text", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["tracked_transfers.id"],
            name=op.f("fk_transfer_events_transfer_id_tracked_transfers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_events")),
    )
    op.create_index(
        op.f("ix_transfer_events_transfer_id_id"), "transfer_events", ["transfer_id", "id"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        _utc("at", nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("verb", sa.String(length=32), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["action_requests.id"],
            name=op.f("fk_audit_log_request_id_action_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["tracked_transfers.id"],
            name=op.f("fk_audit_log_transfer_id_tracked_transfers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_request_id"), "audit_log", ["request_id"])
    op.create_index(op.f("ix_audit_log_transfer_id"), "audit_log", ["transfer_id"])
    op.create_table(
        "request_secrets",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        _utc("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["action_requests.id"],
            name=op.f("fk_request_secrets_request_id_action_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_secrets")),
    )


def downgrade() -> None:
    for table in (
        "request_secrets",
        "audit_log",
        "transfer_events",
        "alerts",
        "action_requests",
        "tracked_transfers",
        "account_health",
    ):
        op.drop_table(table)  # their indexes go with them
