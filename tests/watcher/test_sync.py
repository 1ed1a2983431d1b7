"""Sync: in-flight transfers imported from OpenSRS and Gandi, the others skipped with a sentence."""

from __future__ import annotations

from bot.watcher.sync import sync_accounts
from storage.audit import list_audit
from tests.watcher.conftest import CHANNEL, Rig

HOUR, DAY = 3600.0, 86400.0


def seed(rig: Rig) -> dict[str, list[str]]:
    opensrs, gandi = rig.sims["opensrs"], rig.sims["gandi"]
    return {
        "opensrs": [
            opensrs.add_order("moving.example", age=3 * HOUR),
            opensrs.add_order("owner.example", script="waits_for_owner", age=HOUR),
            opensrs.add_order("blocked.example", script="bad_auth", age=3 * HOUR),
        ],
        "opensrs_done": [opensrs.add_order("done.example", script="quick", age=DAY)],
        "gandi": [
            gandi.add_operation("waiting.example", story="stays_waiting", age=60),
            gandi.add_operation("running.example", story="completes", age=3700),
        ],
        "gandi_done": [gandi.add_operation("finished.example", story="quick", age=600)],
    }


async def test_sync_imports_in_flight_transfers_and_skips_what_cannot_list(rig: Rig) -> None:
    refs = seed(rig)
    await rig.watch("opensrs", refs["opensrs"][0])  # already tracked
    report = await sync_accounts(rig.services, actor="U0ALICE")

    assert sorted(report.imported["opensrs-test"]) == sorted(refs["opensrs"][1:])
    assert sorted(report.imported["gandi-test"]) == sorted(refs["gandi"])
    assert report.already_tracked == {"opensrs-test": [refs["opensrs"][0]]}
    assert report.errors == {}
    assert set(report.skipped) == {"cpanel-test", "hostway-test", "gandi_v5-test"}
    assert "can't list" in report.skipped["hostway-test"]
    assert report.skipped["gandi_v5-test"].startswith(
        "gandi_v5-test: Gandi (v5) can't list its transfers, so there is nothing to sync"
    )
    assert rig.sims["gandi_v5"].faults.calls == {}  # not asked: v5 has no list endpoint
    assert len(report.sentences()) == 5 and all(s.endswith(".") for s in report.sentences())
    for done in refs["opensrs_done"]:
        assert await rig.row_by_ref("opensrs", done) is None
    imported = await rig.row_by_ref("gandi", refs["gandi"][0])
    assert imported is not None and imported.watched_by == "U0ALICE"
    async with rig.services.db.session() as session:
        audit = await list_audit(session, transfer_id=imported.id)
    assert [(a.actor, a.verb) for a in audit] == [("U0ALICE", "watched")]

    await rig.services.drain(5)  # the transfer found blocked is told about, once
    [thread] = rig.standin.channel(CHANNEL)
    assert "blocked.example" in thread.text and "is stuck" in thread.replies[0].text

    again = await sync_accounts(rig.services)
    assert again.imported == {}
    assert sum(len(v) for v in again.already_tracked.values()) == 5
    await rig.services.drain(5)
    assert len(rig.standin.channel(CHANNEL)) == 1

    polled = await rig.step(DAY)  # imported transfers are polled like any other
    assert polled.polled == 5


async def test_one_account_failing_to_list_is_its_own_sentence(rig: Rig) -> None:
    seed(rig)
    rig.sims["gandi"].faults.add("error", times=None, status=502)
    report = await sync_accounts(rig.services)
    assert set(report.errors) == {"gandi-test"}
    assert report.errors["gandi-test"].startswith("gandi-test: ")
    assert "unavailable" in report.errors["gandi-test"]
    assert len(report.imported["opensrs-test"]) == 3


async def test_syncing_one_account_or_an_unknown_one(rig: Rig) -> None:
    seed(rig)
    only = await sync_accounts(rig.services, account="gandi-test")
    assert [a.account for a in only.accounts] == ["gandi-test"]
    unknown = await sync_accounts(rig.services, account="nope")
    assert "There is no provider account 'nope'" in unknown.errors["nope"]
    skipped = await sync_accounts(rig.services, account="cpanel-test")
    assert skipped.imported == {} and "watch each one" in skipped.skipped["cpanel-test"]
