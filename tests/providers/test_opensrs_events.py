"""OpenSRS event notifications: EVENT POLL / EVENT ACK through the client and the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from providers.base import ChangeFeed
from providers.errors import ProviderError, Unsupported
from providers.opensrs import OpenSRSProvider
from providers.opensrs.events import changes_from_poll
from providers.opensrs.wire import parse_request
from providers.simulators.base import SimClock
from providers.simulators.opensrs import OpenSRSSimulator
from tests.providers.test_opensrs import RESELLER, Wire, make_account

HOUR = 3600.0
GOOD = "an-api-key-for-tests-0123456789"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(frozen=True)


@pytest.fixture
def sim(clock: SimClock) -> OpenSRSSimulator:
    simulator = OpenSRSSimulator(secret=GOOD, username=RESELLER, clock=clock)
    simulator.events_enabled = True
    return simulator


@pytest.fixture
def wire(sim: OpenSRSSimulator) -> Wire:
    return Wire(sim)


@pytest.fixture
async def client(wire: Wire) -> AsyncIterator[OpenSRSProvider]:
    provider = OpenSRSProvider(
        make_account("http://opensrs.test", secret=GOOD), transport=httpx.ASGITransport(wire)
    )
    yield provider
    await provider.aclose()


def test_the_client_is_a_change_feed(client: OpenSRSProvider) -> None:
    assert isinstance(client, ChangeFeed)
    assert client.capabilities.change_feed


async def test_poll_lists_each_step_oldest_first_with_the_documented_shape(
    sim, clock, client, wire
):
    order = sim.add_order("moving.example", script="quick")
    clock.advance(130)  # pending_owner, pending_admin, pending_registry
    changes = await client.poll_changes(100)
    request = parse_request(wire.requests[-1][1])
    assert (request.action, request.object, request.attributes) == (
        "POLL",
        "EVENT",
        {"limit": "100"},
    )
    entry = sim.events[0].entry()
    assert entry.keys() == {"event_id", "event", "object", "event_date", "object_data"}
    transfer = [c for c in changes if c.kind == "TRANSFER STATUS_CHANGE"]
    assert [c.status for c in transfer] == ["pending_owner", "pending_admin", "pending_registry"]
    assert all(c.ref == order and c.subject == "moving.example" for c in changes)
    assert [c.at for c in changes] == sorted(c.at for c in changes if c.at)
    orders = [c for c in changes if c.kind == "ORDER STATUS_CHANGE"]
    assert [c.status for c in orders] == ["processed"] and orders[0].transfer_in


async def test_an_event_polled_but_not_acked_comes_again_and_ack_removes_it(sim, clock, client):
    sim.add_order("one.example", script="waits_for_owner")
    first = await client.poll_changes(100)
    again = await client.poll_changes(100)
    assert [c.id for c in first] == [c.id for c in again] and first
    for change in first:
        await client.ack_change(change.id)
    assert await client.poll_changes(100) == []
    await client.ack_change(first[0].id)  # already gone: not an error


async def test_limit_caps_the_reply_and_the_default_is_one(sim, client, wire):
    for n in range(3):
        sim.add_order(f"d{n}.example", script="waits_for_owner")
    assert len(await client.poll_changes(2)) == 2
    assert len(await client.poll_changes(500)) == 6  # asked for 100 at most


async def test_a_feed_switched_off_is_unsupported_in_one_sentence(sim, client):
    sim.events_enabled = False
    with pytest.raises(Unsupported) as caught:
        await client.poll_changes(100)
    assert "Reseller Control Panel" in caught.value.message


async def test_faults_duplicate_reverse_invent_and_empty(sim, clock, client):
    sim.add_order("f.example", script="quick")
    clock.advance(70)
    plain = await client.poll_changes(100)
    sim.event_faults = {"duplicate"}
    assert [c.id for c in await client.poll_changes(100)] == [c.id for c in plain for _ in (0, 1)]
    sim.event_faults = {"out_of_order"}
    assert [c.id for c in await client.poll_changes(100)] == [c.id for c in reversed(plain)]
    sim.event_faults = {"unknown_order"}
    ghost = (await client.poll_changes(100))[0]
    assert ghost.ref not in sim.orders and ghost.ref
    sim.event_faults = {"empty"}
    assert await client.poll_changes(100) == []


async def test_an_error_reply_is_a_provider_error(sim, client):
    sim.faults.add("error", operation="POLL", status=503, times=None)
    with pytest.raises(ProviderError):
        await client.poll_changes(100)


def test_entries_without_an_event_id_are_left_out_and_odd_values_do_not_crash():
    attributes = {
        "events": [
            {"event": "STATUS_CHANGE", "object": "ORDER", "object_data": {"order_id": "1"}},
            {"event_id": "abc", "object": "DOMAIN", "object_data": "x", "event_date": "soon"},
            "not a map",
        ]
    }
    (change,) = changes_from_poll(attributes)
    assert (change.id, change.ref, change.at, change.transfer_in) == ("abc", "", None, False)
    assert changes_from_poll({"events": "none"}) == []
