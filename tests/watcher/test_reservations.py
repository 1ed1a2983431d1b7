"""Reserving the watcher's alerts: each once by its key, with the payload its message is
built from later; and the audit log naming a transfer one way."""

from __future__ import annotations

from datetime import timedelta

from bot.watcher.decisions import (
    FEED_DOWN,
    FEED_UP,
    RECOVERED,
    STALLED,
    UNREACHABLE,
    feed_down_key,
    feed_up_key,
    outage_key,
    recovery_key,
)
from bot.watcher.messages import account_alert_message
from bot.watcher.reservations import reserve_outage, reserve_recovery, reserve_status_alert
from storage.alerts import get_alert_by_key
from storage.audit import list_audit, record_transfer_audit
from storage.database import Database
from storage.models import Alert
from storage.transfers import watch_transfer
from tests.storage.samples import T0, hostway_blocked

LATER = T0 + timedelta(hours=2)


async def _alert(db: Database, key: str) -> Alert:
    async with db.session() as session:
        alert = await get_alert_by_key(session, key=key)
    assert alert is not None
    return alert


async def test_a_status_alert_keeps_the_status_it_was_about(db: Database) -> None:
    async with db.session() as session:
        row = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")).transfer
        key = await reserve_status_alert(session, row, "blocked", key="blocked:1", now=T0)
        again = await reserve_status_alert(session, row, "blocked", key="blocked:1", now=LATER)
        stall = await reserve_status_alert(
            session, row, STALLED, key="stalled:1", now=LATER, message="stuck", since=T0
        )
    assert (key, again, stall) == ("blocked:1", None, "stalled:1")
    blocked = await _alert(db, "blocked:1")
    status = {"phase": "blocked", "raw_code": "7", "raw_text": "Invalid authorization code"}
    assert blocked.payload == status and blocked.transfer_id == row.id
    assert blocked.message == "example.com is blocked (hostway 7)."  # the status, unless given
    stalled = await _alert(db, "stalled:1")
    assert stalled.payload == {**status, "since": T0.isoformat()}
    assert stalled.message == "stuck" and stalled.kind == STALLED


async def test_an_outage_and_its_recovery_are_keyed_by_when_it_began(db: Database) -> None:
    async with db.session() as session:
        down = await reserve_outage(
            session, UNREACHABLE, "whm-east", since=T0, now=T0, message="down", error="502"
        )
        twice = await reserve_outage(
            session, UNREACHABLE, "whm-east", since=T0, now=LATER, message="down", error="503"
        )
        up = await reserve_recovery(session, RECOVERED, "whm-east", since=T0, now=LATER)
    assert (down, twice, up) == (outage_key("whm-east", T0), None, recovery_key("whm-east", T0))
    outage = await _alert(db, outage_key("whm-east", T0))
    assert outage.payload == {"since": T0.isoformat(), "last_error": "502"}
    assert "whm-east" in account_alert_message(outage)[0]
    recovered = await _alert(db, recovery_key("whm-east", T0))
    assert recovered.message == "Provider account whm-east answers again."
    assert recovered.payload == {  # the outage it ends: it answers in that one's thread
        "since": T0.isoformat(),
        "until": LATER.isoformat(),
        "outage_key": outage_key("whm-east", T0),
    }


async def test_a_feed_down_or_silent_and_up_again(db: Database) -> None:
    async with db.session() as session:
        silent = await reserve_outage(
            session,
            FEED_DOWN,
            "srs",
            since=T0,
            now=T0,
            message="hush",
            error="said nothing",
            silent=True,
        )
        up = await reserve_recovery(session, FEED_UP, "srs", since=T0, now=LATER)
    assert (silent, up) == (feed_down_key("srs", T0), feed_up_key("srs", T0))
    down = await _alert(db, feed_down_key("srs", T0))
    assert down.payload == {"since": T0.isoformat(), "last_error": "said nothing", "silent": True}
    recovered = await _alert(db, feed_up_key("srs", T0))
    assert recovered.message == "The change feed of srs answers again."
    assert recovered.payload["outage_key"] == feed_down_key("srs", T0)


async def test_the_audit_log_names_a_transfer_unless_told_otherwise(db: Database) -> None:
    async with db.session() as session:
        row = (await watch_transfer(session, transfer=hostway_blocked(), watched_by="U1")).transfer
        await record_transfer_audit(session, transfer=row, actor="U1", verb="watched", now=T0)
        await record_transfer_audit(
            session, transfer=row, actor="U2", verb="superseded", detail="moved on", now=LATER
        )
    async with db.session() as session:
        entries = await list_audit(session, transfer_id=row.id)
    assert [(e.actor, e.verb, e.detail) for e in entries] == [
        ("U2", "superseded", "moved on"),
        ("U1", "watched", "hostway-main 100234/example.com (example.com)"),
    ]
