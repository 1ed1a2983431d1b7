"""The tables: tracked transfers, their events, action requests, secrets, alerts, health, audit."""

from __future__ import annotations

import enum
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utc_now

__all__ = [
    "FINISHED_REQUEST_STATES",
    "REQUEST_TRANSITIONS",
    "AccountHealth",
    "ActionRequest",
    "Alert",
    "AlertState",
    "AuditEntry",
    "ChangeFeedState",
    "EventKind",
    "Followup",
    "RequestSecret",
    "RequestState",
    "SeenChange",
    "SeenSignature",
    "TrackedTransfer",
    "TransferEvent",
]

logger = logging.getLogger(__name__)

# Constraint names are stable across databases, so migrations can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class EventKind(enum.StrEnum):
    """What a transfer event records."""

    OBSERVED = "observed"  # the provider's status changed
    WATCHED = "watched"
    UNWATCHED = "unwatched"
    ACTION = "action"
    SUPERSEDED = "superseded"
    ERROR = "error"
    STALLED = "stalled"


class RequestState(enum.StrEnum):
    """Where an action request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the action may or may not have reached the provider


REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.PENDING: frozenset(
        {
            RequestState.APPROVED,
            RequestState.REJECTED,
            RequestState.WITHDRAWN,
            RequestState.EXPIRED,
            RequestState.RUNNING,  # actions that need no approval
        }
    ),
    # an approval whose run never started (the bot stopped) and whose expiry passed
    RequestState.APPROVED: frozenset({RequestState.RUNNING, RequestState.EXPIRED}),
    RequestState.RUNNING: frozenset({RequestState.DONE, RequestState.FAILED, RequestState.UNKNOWN}),
}

FINISHED_REQUEST_STATES = frozenset(
    {
        RequestState.REJECTED,
        RequestState.WITHDRAWN,
        RequestState.EXPIRED,
        RequestState.DONE,
        RequestState.FAILED,
        RequestState.UNKNOWN,
    }
)


class AlertState(enum.StrEnum):
    PENDING = "pending"
    POSTING = "posting"
    POSTED = "posted"


def _json_default_list() -> list[Any]:
    return []


def _json_default_dict() -> dict[str, Any]:
    return {}


class TrackedTransfer(SQLModel, table=True):
    """One transfer the bot knows about: the last snapshot, polling and alerting state."""

    __tablename__ = "tracked_transfers"
    __table_args__ = (
        UniqueConstraint("account", "ref"),
        UniqueConstraint("short_id"),
        Index(None, "watching", "next_poll_at"),
        Index(None, "owner_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    short_id: str = Field(sa_type=String(16))  # "t-4k7q": what people type in Slack
    account: str = Field(sa_type=String(40))
    provider: str = Field(sa_type=String(16))
    ref: str = Field(sa_type=String(255))
    subject: str = Field(default="", sa_type=Text)
    phase: str = Field(sa_type=String(16))  # providers.base.Phase values
    raw_code: str = Field(default="", sa_type=String(64))
    raw_text: str = Field(default="", sa_type=Text)
    waiting_for: str | None = Field(default=None, sa_type=Text)
    actions: list[Any] = Field(default_factory=_json_default_list, sa_type=JSON)
    details: dict[str, Any] = Field(default_factory=_json_default_dict, sa_type=JSON)
    history: list[Any] = Field(default_factory=_json_default_list, sa_type=JSON)
    changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)

    watching: bool = Field(default=True, sa_type=Boolean)
    watched_by: str | None = Field(default=None, sa_type=String(64))
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    poll_interval_seconds: float = Field(default=300.0, sa_type=Float)
    lease_owner: str | None = Field(default=None, sa_type=String(128))
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_errors: int = Field(default=0, sa_type=Integer)
    last_error: str | None = Field(default=None, sa_type=Text)  # a user sentence

    alert_channel: str | None = Field(default=None, sa_type=String(32))
    alert_ts: str | None = Field(default=None, sa_type=String(32))  # the thread's first message
    stalled_alerted_for: str | None = Field(default=None, sa_type=String(64))  # a raw_code

    superseded_by_id: int | None = Field(
        default=None, foreign_key="tracked_transfers.id", ondelete="SET NULL"
    )
    supersedes_id: int | None = Field(
        default=None, foreign_key="tracked_transfers.id", ondelete="SET NULL"
    )
    version: int = Field(default=1, sa_type=Integer)
    # who took it on while stuck (a Slack user id), and when; last, as migration 0003 added them
    owner_id: str | None = Field(default=None, sa_type=String(64))
    owned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def __repr__(self) -> str:
        return (
            f"<TrackedTransfer {self.short_id} {self.account}/{self.ref} "
            f"{self.phase} {self.raw_code!r}>"
        )


class TransferEvent(SQLModel, table=True):
    """One observed change in a transfer's life, in order."""

    __tablename__ = "transfer_events"
    __table_args__ = (Index(None, "transfer_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    transfer_id: int = Field(foreign_key="tracked_transfers.id", ondelete="CASCADE")
    at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    kind: str = Field(sa_type=String(16))  # EventKind values
    phase: str | None = Field(default=None, sa_type=String(16))
    raw_code: str | None = Field(default=None, sa_type=String(64))
    raw_text: str | None = Field(default=None, sa_type=Text)
    message: str = Field(default="", sa_type=Text)


class ActionRequest(SQLModel, table=True):
    """Someone asked for an action on a transfer; it may need a second person's approval."""

    __tablename__ = "action_requests"
    __table_args__ = (
        Index(None, "transfer_id"),
        Index(None, "state", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transfer_id: int = Field(foreign_key="tracked_transfers.id", ondelete="CASCADE")
    action: str = Field(sa_type=String(16))  # providers.base.Action values
    requested_by: str = Field(sa_type=String(64))  # Slack user id
    inputs: dict[str, Any] = Field(default_factory=_json_default_dict, sa_type=JSON)  # public
    has_secret: bool = Field(default=False, sa_type=Boolean)
    state: str = Field(default=RequestState.PENDING.value, sa_type=String(16))
    decided_by: str | None = Field(default=None, sa_type=String(64))
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result_message: str | None = Field(default=None, sa_type=Text)
    new_ref: str | None = Field(default=None, sa_type=String(255))
    dry_run: bool = Field(default=False, sa_type=Boolean)
    channel: str | None = Field(default=None, sa_type=String(32))
    message_ts: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class RequestSecret(SQLModel, table=True):
    """A request's secret input (a new authInfo), encrypted, kept until the action has run."""

    __tablename__ = "request_secrets"

    request_id: int = Field(primary_key=True, foreign_key="action_requests.id", ondelete="CASCADE")
    token: str = Field(sa_type=Text)  # Fernet token; never the plaintext
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)

    def __repr__(self) -> str:
        return f"<RequestSecret request={self.request_id}>"


class Alert(SQLModel, table=True):
    """One channel alert, recorded once by its unique key, then posted."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("key"), Index(None, "state"))

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=String(255))  # "transfer:42:blocked:event:977"
    transfer_id: int | None = Field(
        default=None, foreign_key="tracked_transfers.id", ondelete="CASCADE"
    )
    account: str = Field(sa_type=String(40))
    kind: str = Field(sa_type=String(32))  # blocked, completed, unreachable, ...
    message: str = Field(default="", sa_type=Text)  # fallback text for the post
    payload: dict[str, Any] = Field(default_factory=_json_default_dict, sa_type=JSON)
    state: str = Field(default=AlertState.PENDING.value, sa_type=String(16))
    channel: str | None = Field(default=None, sa_type=String(32))
    ts: str | None = Field(default=None, sa_type=String(32))
    thread_ts: str | None = Field(default=None, sa_type=String(32))
    attempts: int = Field(default=0, sa_type=Integer)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AccountHealth(SQLModel, table=True):
    """Whether a provider account answers, for outage and recovery alerts."""

    __tablename__ = "account_health"

    account: str = Field(primary_key=True, sa_type=String(40))
    consecutive_failures: int = Field(default=0, sa_type=Integer)
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outage_alerted: bool = Field(default=False, sa_type=Boolean)
    last_error: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who did what, when: every request, decision, action and outcome. Never a secret."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "transfer_id"), Index(None, "request_id"), Index(None, "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    actor: str = Field(sa_type=String(64))  # Slack user id, "watcher" or "system"
    verb: str = Field(sa_type=String(32))
    transfer_id: int | None = Field(
        default=None, foreign_key="tracked_transfers.id", ondelete="SET NULL"
    )
    request_id: int | None = Field(
        default=None, foreign_key="action_requests.id", ondelete="SET NULL"
    )
    detail: str = Field(default="", sa_type=Text)


class SeenSignature(SQLModel, table=True):
    """A signed Slack request let in: its signature's SHA-256, kept for Slack's five minutes."""

    __tablename__ = "seen_signatures"
    __table_args__ = (Index(None, "signed_at"),)

    digest: str = Field(primary_key=True, sa_type=String(64))  # hex; never the signature
    signed_at: datetime = Field(sa_type=UTCDateTime)  # the request's timestamp


class Followup(SQLModel, table=True):
    """A clock running on one transfer: stuck (blocked, or stalled) so it is reminded of,
    and/or in a status with a provider deadline. One row per transfer, replaced when its
    status changes; the reminder pass reads only the rows due (``due_at``)."""

    __tablename__ = "followups"
    __table_args__ = (Index(None, "due_at"),)

    transfer_id: int = Field(
        primary_key=True, foreign_key="tracked_transfers.id", ondelete="CASCADE"
    )
    raw_code: str = Field(sa_type=String(64))  # the status this clock is about
    stuck: bool = Field(default=False, sa_type=Boolean)  # reminders and escalation run
    since: datetime = Field(sa_type=UTCDateTime)  # when following up began (the clock's start)
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None: nothing more
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the last pass
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    snoozed_by: str | None = Field(default=None, sa_type=String(64))


class ChangeFeedState(SQLModel, table=True):
    """One account's change feed (OpenSRS event notifications): who reads it now (a lease,
    so replicas read it once), when next, and whether it answers (for its alerts)."""

    __tablename__ = "change_feeds"

    account: str = Field(primary_key=True, sa_type=String(40))
    lease_owner: str | None = Field(default=None, sa_type=String(64))
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_change_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = Field(default=0, sa_type=Integer)
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    down_alerted: bool = Field(default=False, sa_type=Boolean)
    last_error: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    # a poll found a change the feed never told of: not trusted until it tells of one again
    silent_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SeenChange(SQLModel, table=True):
    """A change-feed entry whose effect is recorded: a redelivery of it changes nothing."""

    __tablename__ = "seen_changes"
    __table_args__ = (Index(None, "seen_at"), Index(None, "account", "ref"))

    account: str = Field(primary_key=True, sa_type=String(40))
    change_id: str = Field(primary_key=True, sa_type=String(64))
    ref: str = Field(default="", sa_type=String(255))
    seen_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
