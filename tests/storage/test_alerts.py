"""Alerts recorded once by key, posted after a crash; account health; the audit log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.alerts import (
    claim_alert,
    mark_alert_posted,
    pending_alerts,
    reserve_alert,
    return_alert,
)
from storage.audit import list_audit, record_audit
from storage.database import Database
from storage.health import mark_outage_alerted, record_account_failure, record_account_ok
from storage.models import AlertState
from storage.transfers import watch_transfer
from tests.storage.samples import T0, hostway_blocked


async def test_reserving_the_same_key_twice_records_one_alert(db: Database) -> None:
    async with db.session() as session:
        transfer = (
            await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")
        ).transfer
        key = f"transfer:{transfer.id}:blocked:event:1"
        first = await reserve_alert(
            session,
            key=key,
            kind="blocked",
            account=transfer.account,
            transfer_id=transfer.id,
            message="example.com is blocked",
            payload={"raw_code": "7"},
            now=T0,
        )
        again = await reserve_alert(session, key=key, kind="blocked", account=transfer.account)
    assert (
        first is not None
        and first.state == AlertState.PENDING
        and first.payload == {"raw_code": "7"}
    )
    assert again is None
    async with db.session() as session:  # and the transaction was not spoiled by the conflict
        assert [a.key for a in await pending_alerts(session)] == [key]


async def test_replicas_racing_on_one_key_record_it_once(db: Database, database_url: str) -> None:
    other = Database(database_url)

    async def reserve(database: Database) -> bool:
        async with database.session() as session:
            alert = await reserve_alert(
                session,
                key="account:whm-east:unreachable:since:2026-03-01T12:00",
                kind="unreachable",
                account="whm-east",
            )
            return alert is not None

    try:
        results = await asyncio.gather(*(reserve(d) for d in [db, other] * 5))
    finally:
        await other.dispose()
    assert sum(results) == 1


async def test_an_alert_is_posted_once_and_one_cut_short_by_a_crash_is_found_again(
    db: Database,
) -> None:
    async with db.session() as session:
        posted = await reserve_alert(session, key="a", kind="completed", account="x", now=T0)
        failed = await reserve_alert(session, key="b", kind="failed", account="x", now=T0)
        crashed = await reserve_alert(session, key="c", kind="blocked", account="x", now=T0)
    assert posted and failed and crashed
    async with db.session() as session:
        for alert in (posted, failed, crashed):
            assert await claim_alert(session, alert_id=alert.id, now=T0)
        assert not await claim_alert(session, alert_id=posted.id, now=T0)  # only one poster
        assert await mark_alert_posted(session, alert_id=posted.id, channel="C1", ts="1.1", now=T0)
        assert await return_alert(session, alert_id=failed.id, error="Slack said ratelimited.")
    later = T0 + timedelta(minutes=10)
    async with db.session() as session:
        assert [a.key for a in await pending_alerts(session)] == ["b"]
        again = await pending_alerts(session, stale_before=later - timedelta(minutes=5))
        assert [a.key for a in again] == ["b", "c"]
        assert await claim_alert(session, alert_id=crashed.id, now=later, stale_before=later)
        assert [a.key for a in await pending_alerts(session)] == ["b"]
        retried = await pending_alerts(session)
    assert retried[0].attempts == 1 and retried[0].last_error == "Slack said ratelimited."


async def test_account_health_tracks_an_outage_and_its_recovery(db: Database) -> None:
    down = "The provider is unavailable right now; try again in a few minutes."
    async with db.session() as session:
        assert await record_account_ok(session, account="whm-east", now=T0) is None
        await record_account_failure(session, account="whm-east", error=down, now=T0)
        health = await record_account_failure(
            session, account="whm-east", error=down, now=T0 + timedelta(minutes=1)
        )
        assert health.consecutive_failures == 2 and health.failing_since == T0
        assert await mark_outage_alerted(session, account="whm-east")
        assert not await mark_outage_alerted(session, account="whm-east")
        before = await record_account_ok(session, account="whm-east", now=T0 + timedelta(minutes=9))
    assert before is not None and before.outage_alerted and before.failing_since == T0
    async with db.session() as session:
        assert await record_account_ok(session, account="whm-east") is None  # healthy already


async def test_the_audit_log_reads_newest_first(db: Database) -> None:
    async with db.session() as session:
        transfer = (
            await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")
        ).transfer
        await record_audit(session, actor="U1", verb="watched", transfer_id=transfer.id, now=T0)
        await record_audit(
            session, actor="U1", verb="requested", transfer_id=transfer.id, detail="retry", now=T0
        )
        await record_audit(session, actor="system", verb="started", now=T0)
    async with db.session() as session:
        entries = await list_audit(session, transfer_id=transfer.id)
        by_system = await list_audit(session, actor="system")
    assert [e.verb for e in entries] == ["requested", "watched"]
    assert [e.verb for e in by_system] == ["started"]
