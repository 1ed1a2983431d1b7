"""Transfer snapshots for the storage tests, shaped like the providers' real ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from providers.base import Action, ActionInput, ActionSpec, HistoryEntry, Phase, Transfer
from storage.database import Database
from storage.requests import create_request
from storage.transfers import watch_transfer

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

AUTHINFO = ActionInput(
    name="auth_info",
    label="New authInfo",
    required=False,
    secret=True,
    min_length=6,
    max_length=16,
    hint="Leave empty to reuse the previous one.",
)
RESET = ActionSpec(
    action=Action.RETRY,
    verb="reset",
    inputs=(AUTHINFO,),
    destructive=False,
    description="Reset the blocked transfer at the registry.",
)


def hostway_blocked(domain: str = "example.com", *, account: str = "hostway-main") -> Transfer:
    """A Hostway transfer blocked on a bad authInfo, with a reset action that takes one."""
    plus_two = timezone(timedelta(hours=2))
    return Transfer(
        account=account,
        provider="hostway",
        ref=f"100234/{domain}",
        subject=domain,
        phase=Phase.BLOCKED,
        raw_code="7",
        raw_text="Invalid authorization code",
        actions=(RESET,),
        changed_at=datetime(2026, 2, 27, 9, 30, tzinfo=plus_two),
        history=(
            HistoryEntry(
                at=T0 - timedelta(days=3), raw_code="1", raw_text="Pending", phase=Phase.PENDING
            ),
            HistoryEntry(
                at=datetime(2026, 2, 27, 9, 30, tzinfo=plus_two),
                raw_code="7",
                raw_text="Invalid authorization code",
                phase=Phase.BLOCKED,
            ),
            HistoryEntry(at=None, raw_code="x", raw_text="no date, no phase"),
        ),
        waiting_for="someone to reset it with a new authInfo",
        details={"emailAddress": "admin@example.com", "authInfo": "••••••"},
    )


def cpanel_session(
    ref: str, *, account: str = "whm-east", phase: Phase = Phase.ACTIVE, raw_code: str = "RUNNING"
) -> Transfer:
    return Transfer(
        account=account,
        provider="cpanel",
        ref=ref,
        subject="alice, bob",
        phase=phase,
        raw_code=raw_code,
        raw_text=raw_code.lower(),
        actions=(ActionSpec(action=Action.PAUSE, verb="pause"),),
    )


async def retry_request(db: Database, **kwargs: object) -> int:
    """A pending retry of a watched, blocked Hostway transfer (asked by U1, due in an hour);
    its id. ``kwargs`` go to create_request."""
    async with db.session() as session:
        transfer = (
            await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")
        ).transfer
        request = await create_request(
            session,
            transfer_id=transfer.id,
            action=Action.RETRY,
            requested_by="U1",
            expires_at=T0 + timedelta(hours=1),
            **kwargs,  # type: ignore[arg-type]
        )
    assert request.id is not None
    return request.id
