"""OpenSRS XCP: the contract, seed 001, the envelope, the mapping, faults and hostile XML."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from providers import errors
from providers.base import Action, Phase, Transfer
from providers.opensrs import OpenSRSProvider
from providers.opensrs.parse import (
    LiveStatus,
    Order,
    continues,
    mark_superseded,
    orders_from_listing,
    parse_time,
    transfer_from,
)
from providers.opensrs.wire import (
    build_envelope,
    build_reply,
    error_from_reply,
    parse_envelope,
    parse_reply,
    parse_request,
    sign,
)
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer, SimClock
from providers.simulators.opensrs import OpenSRSSimulator
from tests.providers.contract import (
    GOOD_SECRET,
    ActionCase,
    ProviderContract,
    WrongBaseURL,
)
from tests.providers.hostile_xml import classic_attacks
from tests.providers.plumbing import Canary, read_body, replay

RESELLER = "test_rsp"
DAY = 86400

SEED_001_REQUEST = b"""<?xml version='1.0' encoding='UTF-8' standalone='no'?>
<!DOCTYPE OPS_envelope SYSTEM 'ops.dtd'>
<OPS_envelope>
    <header>
        <version>0.9</version>
    </header>
    <body>
        <data_block>
            <dt_assoc>
                <item key="protocol">XCP</item>
                <item key="action">PROCESS_TRANSFER</item>
                <item key="object">TRANSFER</item>
                <item key="attributes">
                    <dt_assoc>
                        <item key="reseller">test_rsp</item>
                        <item key="order_id">111111</item>
                    </dt_assoc>
                </item>
            </dt_assoc>
        </data_block>
    </body>
</OPS_envelope>"""

SEED_001_REPLY = b"""<?xml version='1.0' encoding='UTF-8' standalone='no'?>
<!DOCTYPE OPS_envelope SYSTEM 'ops.dtd'>
<OPS_envelope>
    <header>
        <version>0.9</version>
    </header>
    <body>
        <data_block>
            <dt_assoc>
                <item key="protocol">XCP</item>
                <item key="action">REPLY</item>
                <item key="object">TRANSFER</item>
                <item key="is_success">1</item>
                <item key="response_text">Transfer request has been successfully sent. Admin contact email: [email protected]'</item>
                <item key="response_code">200</item>
                <item key="attributes">
                    <dt_assoc>
                        <item key="order_id">1111111</item>
                    </dt_assoc>
                </item>
            </dt_assoc>
        </data_block>
    </body>
</OPS_envelope>"""  # noqa: E501 - the seed, verbatim


# -- plumbing: a recording wire in front of the simulator, served on loopback -------------------


class Wire:
    """ASGI in front of an app: records requests; can answer an action itself."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.replace: dict[str, bytes] = {}  # action -> reply body sent instead

    def actions(self) -> list[str]:
        return [parse_request(body).action for _, body in self.requests]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        action = parse_request(body).action
        if action in self.replace:
            await _send_body(send, self.replace[action])
            return
        await self.app(scope, replay(body), send)


async def _send_body(send: Any, body: bytes, content_type: bytes = b"text/xml") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def make_account(url: str, **fields: Any) -> ProviderAccount:
    values = {
        "name": "srs-test",
        "type": "opensrs",
        "base_url": url,
        "username": RESELLER,
        "secret_env": "UNUSED",
        "secret": GOOD_SECRET,
        "timeout": 0.5,
        "read_retries": 1,
        "rate_limit": 1000,
        **fields,
    }
    return ProviderAccount.model_validate(values)


@pytest.fixture
def contract() -> TestOpenSRSContract:
    return TestOpenSRSContract()


@pytest.fixture
def wire(sim: OpenSRSSimulator) -> Wire:
    return Wire(sim)


@pytest.fixture
async def url(wire: Wire) -> AsyncIterator[str]:
    async with LoopbackServer(wire) as base:
        yield base


@pytest.fixture
async def client(url: str) -> AsyncIterator[OpenSRSProvider]:
    provider = OpenSRSProvider(make_account(url))
    yield provider
    await provider.aclose()


def pending(sim: OpenSRSSimulator, domain: str = "pending.example") -> str:
    return sim.add_order(domain, script="waits_for_owner")


def blocked(sim: OpenSRSSimulator, domain: str = "stuck.example", **kw: Any) -> str:
    return sim.add_order(domain, script="owner_declines", age=6 * DAY, **kw)


# -- the shared contract -----------------------------------------------------------------------


class TestOpenSRSContract(ProviderContract):
    provider_type = "opensrs"
    read_operation = "GET_TRANSFERS_IN"  # the first look at an order; polls then use CHECK
    retry_operation = "PROCESS_TRANSFER"
    action_cases = (
        ActionCase(Action.CANCEL, "seed_pending", "CANCEL_TRANSFER"),
        ActionCase(Action.RETRY, "seed_blocked", "PROCESS_TRANSFER"),
        ActionCase(Action.RESEND, "seed_pending", "SEND_PASSWORD"),
    )
    action_faults = {
        # fault: (error, maybe_applied)
        "error": (errors.Unavailable, True),  # HTTP 500: the server may have done part of it
        "ratelimit": (errors.RateLimited, False),
        "hang": (errors.TimedOut, True),
        "malformed": (errors.BadReply, True),  # OpenSRS did it and then garbled the answer
        "truncated": (errors.BadReply, True),
        "wrong_content_type": (errors.BadReply, False),  # a proxy's page: OpenSRS never saw it
    }
    wrong_base_url = WrongBaseURL(errors.Unavailable, ("HTTP 404",))
    unsupported_words = {Action.PAUSE: "cancelled", Action.RESUME: "cancelled"}
    bad_refs = ("", "12 34", "<item/>", "order#5", "x" * 300, "-1")
    bad_ref_words = "neither an OpenSRS order id (digits) nor a domain name"

    def make_simulator(self, clock: SimClock, secret: str) -> OpenSRSSimulator:
        return OpenSRSSimulator(secret=secret, username=RESELLER, clock=clock)

    def account_fields(self) -> dict[str, object]:
        return {"username": RESELLER}

    def seed_inflight(self, sim: OpenSRSSimulator) -> str:  # type: ignore[override]
        return sim.add_order("moving.example", age=3 * 3600)

    def seed_blocked(self, sim: OpenSRSSimulator) -> str:  # type: ignore[override]
        return blocked(sim)

    def seed_completed(self, sim: OpenSRSSimulator) -> str:  # type: ignore[override]
        return sim.add_order("done.example", script="quick", age=3600)

    def seed_pending(self, sim: OpenSRSSimulator) -> str:
        return pending(sim)

    def seeding(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"domain": "seeded.example", "script": "quick", "age": 90}, {"script": "quick"}

    def check_seeded(self, transfers: list[Transfer], reply: dict[str, Any]) -> None:
        (seeded,) = transfers
        assert seeded.raw_code == "pending_admin"

    def missing_ref(self) -> str:
        return "99999999"


# -- seed 001 and the envelope ------------------------------------------------------------------


def _tree(xml: bytes) -> tuple[Any, str]:
    parser = etree.XMLParser(
        remove_blank_text=True, load_dtd=False, no_network=True, resolve_entities=False
    )
    root = etree.fromstring(xml, parser)

    def walk(node: Any) -> Any:
        return (node.tag, dict(node.attrib), (node.text or "").strip(), [walk(c) for c in node])

    return walk(root), root.getroottree().docinfo.doctype


async def test_seed_request_is_what_the_client_sends_for_process_transfer(sim, wire, client):
    blocked(sim, "example.com", order_id="111111")
    result = await client.perform("111111", Action.RETRY)
    sent = [body for _, body in wire.requests if parse_request(body).action == "PROCESS_TRANSFER"]
    assert len(sent) == 1
    assert _tree(sent[0]) == _tree(SEED_001_REQUEST)
    assert result.new_ref and result.new_ref != "111111"


def test_seed_reply_parses_to_the_new_order_id():
    reply = parse_reply(SEED_001_REPLY)
    assert reply.is_success and reply.response_code == 200 and reply.object == "TRANSFER"
    assert reply.attributes == {"order_id": "1111111"}
    assert reply.response_text.startswith("Transfer request has been successfully sent.")


async def test_seed_reply_makes_the_bot_follow_the_new_order(sim, wire, client):
    blocked(sim, "example.com", order_id="111111")
    wire.replace["PROCESS_TRANSFER"] = SEED_001_REPLY
    result = await client.perform("111111", Action.RETRY)
    assert result.new_ref == "1111111"
    assert "resubmitted as order 1111111" in result.message


async def test_signature_matches_the_formula_by_hand_and_on_the_wire(sim, wire, client):
    key = "0123456789abcdef"
    body = b"<OPS_envelope/>"
    inner = hashlib.md5(body + key.encode()).hexdigest()
    assert sign(body, key) == hashlib.md5((inner + key).encode()).hexdigest()
    assert sign(body, key) == "44cf92302ddeaabfd5109a451a9a41f8"
    await client.get_transfer(pending(sim))
    assert wire.requests
    for headers, sent in wire.requests:
        inner = hashlib.md5(sent + GOOD_SECRET.encode()).hexdigest()
        assert headers["x-signature"] == hashlib.md5((inner + GOOD_SECRET).encode()).hexdigest()
        assert headers["x-username"] == RESELLER
        assert headers["content-type"] == "text/xml"
        assert GOOD_SECRET.encode() not in sent


def test_envelope_round_trips_maps_lists_and_empty_items():
    data = {
        "protocol": "XCP",
        "attributes": {
            "transfers": [{"domain": "a.example", "x": ""}, {"domain": "b.example"}],
            "empty": "",
            "flag": True,
            "count": 3,
        },
    }
    body = build_envelope(data)
    assert b'<item key="empty"/>' in body
    assert body.splitlines()[1] == b"<!DOCTYPE OPS_envelope SYSTEM 'ops.dtd'>"
    assert parse_envelope(body) == {
        "protocol": "XCP",
        "attributes": {
            "transfers": [{"domain": "a.example", "x": ""}, {"domain": "b.example"}],
            "empty": "",
            "flag": "1",
            "count": "3",
        },
    }


def _envelope(inner: str) -> bytes:
    return (
        f"<OPS_envelope><header><version>0.9</version></header><body><data_block>"
        f"{inner}</data_block></body></OPS_envelope>"
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Sign in</body></html>",
        b"<OPS_envelope><header/></OPS_envelope>",
        _envelope("<dt_assoc><item>no key</item></dt_assoc>"),
        _envelope('<dt_assoc><item key="a">1</item><item key="a">2</item></dt_assoc>'),
        _envelope(
            '<dt_assoc><item key="l"><dt_array><item key="x">1</item></dt_array></item></dt_assoc>'
        ),
        _envelope('<dt_assoc><item key="a"><script>1</script></item></dt_assoc>'),
        _envelope('<dt_array><item key="0">1</item></dt_array>'),
        _envelope(
            '<dt_assoc><item key="action">REPLY</item><item key="response_code">200</item>'
            "</dt_assoc>"
        ),
        _envelope(
            '<dt_assoc><item key="action">REPLY</item><item key="is_success">1</item>'
            '<item key="response_code">OK</item></dt_assoc>'
        ),
        _envelope(
            '<dt_assoc><item key="action">REPLY</item><item key="is_success">1</item>'
            '<item key="response_code">200</item><item key="attributes"><dt_array>'
            '<item key="0">x</item></dt_array></item></dt_assoc>'
        ),
    ],
    ids=[
        "not-ops",
        "no-data-block",
        "item-without-key",
        "repeated-key",
        "array-key-not-number",
        "unknown-element",
        "top-level-list",
        "no-is-success",
        "code-not-number",
        "attributes-a-list",
    ],
)
def test_malformed_envelopes_are_bad_replies(body):
    with pytest.raises(errors.BadReply) as info:
        parse_reply(body)
    assert info.value.message.endswith(".")


SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() says yes; int() says no


@pytest.mark.parametrize(
    "data_block",
    [
        '<dt_assoc><item key="action">REPLY</item><item key="is_success">1</item>'
        f'<item key="response_code">{SUPERSCRIPT_TWO}00</item></dt_assoc>',
        '<dt_assoc><item key="action">REPLY</item><item key="is_success">1</item>'
        '<item key="response_code">200</item><item key="attributes"><dt_assoc>'
        f'<item key="transfers"><dt_array><item key="{SUPERSCRIPT_TWO}">x</item></dt_array>'
        "</item></dt_assoc></item></dt_assoc>",
    ],
    ids=["code", "list-index"],
)
def test_numbers_in_other_scripts_are_bad_replies_not_crashes(data_block):
    with pytest.raises(errors.BadReply):
        parse_reply(_envelope(data_block))


@pytest.mark.parametrize("total", [SUPERSCRIPT_TWO, "\u2460", "x"])
def test_a_listing_whose_total_is_no_plain_number_is_a_bad_reply(total):
    with pytest.raises(errors.BadReply, match="without a total"):
        orders_from_listing({"total": total, "transfers": []})


def test_a_time_no_calendar_holds_is_no_time():
    assert parse_time("9" * 30) is None
    assert parse_time("1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


# -- pure mapping: statuses, supersession, codes ------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "superseded", "phase", "actions"),
    [
        ("pending_owner", "", None, Phase.PENDING, ("resend", "cancel")),
        ("pending_admin", "", None, Phase.PENDING, ("cancel",)),
        ("pending_registry", "", None, Phase.ACTIVE, ("cancel",)),
        ("completed", "", None, Phase.COMPLETED, ()),
        ("cancelled", "Registrant did not approve", None, Phase.BLOCKED, ("retry",)),
        ("cancelled", "Invalid auth code", None, Phase.BLOCKED, ("retry",)),
        ("cancelled", "Invalid auth code", "5551234", Phase.CANCELLED, ()),
        ("cancelled", "Cancelled by reseller request", None, Phase.CANCELLED, ()),
        ("mystery_state", "", None, Phase.ACTIVE, ()),
    ],
)
def test_status_maps_to_phase_and_actions(status, reason, superseded, phase, actions):
    order = Order("4242", "example.com", status, reason, superseded_by=superseded)
    transfer = transfer_from(order, account="srs")
    assert (transfer.phase, transfer.action_names) == (phase, actions)
    assert transfer.raw_code == status and transfer.raw_text
    if superseded:
        assert f"resubmitted as order {superseded}" in transfer.raw_text
        assert transfer.details["superseded by"] == superseded
    if phase in (Phase.PENDING, Phase.ACTIVE, Phase.BLOCKED) and status in (
        "pending_owner",
        "pending_admin",
        "pending_registry",
        "cancelled",
    ):
        assert transfer.waiting_for
    cancel = transfer.action(Action.CANCEL)
    assert cancel is None or cancel.destructive


def test_a_cancelled_order_with_a_newer_order_is_superseded():
    orders = mark_superseded(
        [
            Order("30", "a.example", "pending_owner"),
            Order("10", "a.example", "cancelled"),
            Order("20", "a.example", "cancelled"),
            Order("15", "b.example", "cancelled"),
        ]
    )
    by_id = {o.order_id: o.superseded_by for o in orders}
    assert by_id == {"10": "20", "20": "30", "30": None, "15": None}


T1 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T2 = datetime(2024, 5, 9, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("known", "finished", "live", "live_at", "same_order"),
    [
        ("pending_owner", None, "pending_registry", T1, True),
        ("pending_registry", None, "cancelled", T1, True),
        ("pending_registry", None, "pending_owner", T1, False),  # backwards: a newer order
        ("cancelled", T1, "pending_owner", T2, False),  # resubmitted elsewhere
        ("cancelled", T1, "cancelled", T1, True),
        ("cancelled", T1, "cancelled", T2, False),  # a newer order, cancelled too
        ("cancelled", None, "cancelled", T2, True),  # no finish date listed: take its word
        ("pending_owner", None, "", None, False),  # no transfer in progress for the domain
    ],
)
def test_check_transfer_is_taken_for_this_order_only_while_it_can_be(
    known, finished, live, live_at, same_order
):
    order = Order("1", "a.example", known, ordered_at=T1, changed_at=T1, finished_at=finished)
    assert continues(order, LiveStatus(live, "", live_at, transferrable=False)) is same_order


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (300, errors.RateLimited),
        (310, errors.RateLimited),
        (350, errors.RateLimited),
        (400, errors.Unavailable),
        (404, errors.Unavailable),
        (405, errors.Unavailable),
        (410, errors.AuthenticationFailed),
        (415, errors.InvalidInput),
        (430, errors.NotAllowedNow),
        (435, errors.NotAllowedNow),
        (436, errors.InvalidInput),
        (437, errors.NotAllowedNow),
        (460, errors.InvalidInput),
        (465, errors.InvalidInput),
        (480, errors.TransferNotFound),
        (485, errors.NotAllowedNow),
        (486, errors.Unavailable),
        (487, errors.NotAllowedNow),
        (499, errors.ProviderError),
    ],
)
def test_response_codes_map_to_the_error_tree(code, kind):
    words = f"Words of OpenSRS for {code}"
    reply = parse_reply(build_reply("TRANSFER", code, words + "."))
    error = error_from_reply(reply, account="srs", operation="CANCEL_TRANSFER")
    assert type(error) is kind
    assert "'srs'" in error.message and words in error.message and error.message.endswith(".")
    assert error.detail == f"{code} {words}"


def test_invalid_command_is_not_allowed_rather_than_unavailable():
    reply = parse_reply(build_reply("DOMAIN", 400, "Invalid Command: FROB"))
    assert isinstance(
        error_from_reply(reply, account="srs", operation="FROB"), errors.NotAllowedNow
    )


# -- behaviour through the simulator ------------------------------------------------------------


async def test_an_order_moves_through_its_states_as_time_passes(sim, clock, client):
    ref = sim.add_order("moving.example")
    seen = []
    for step in (0, 2 * 3600, 15 * 60, 5 * DAY):
        clock.advance(step)
        transfer = await client.get_transfer(ref)
        seen.append((transfer.raw_code, transfer.phase, transfer.action_names))
    assert seen == [
        ("pending_owner", Phase.PENDING, ("resend", "cancel")),
        ("pending_admin", Phase.PENDING, ("cancel",)),
        ("pending_registry", Phase.ACTIVE, ("cancel",)),
        ("completed", Phase.COMPLETED, ()),
    ]
    assert transfer.subject == "moving.example"
    assert transfer.changed_at == clock.now().replace(microsecond=0)


async def test_polling_costs_one_check_transfer_after_the_first_look(sim, wire, client):
    ref = sim.add_order("moving.example", age=3 * 3600)
    for _ in range(3):
        await client.get_transfer(ref)
    assert wire.actions() == ["GET_TRANSFERS_IN"] + ["CHECK_TRANSFER"] * 3


async def test_a_domain_ref_means_the_domains_newest_order(sim, client):
    old = blocked(sim, "twice.example")
    new = sim.resubmit(old)
    transfer = await client.get_transfer("Twice.Example")
    assert transfer.ref == new and transfer.phase is Phase.PENDING


async def test_retry_follows_the_new_order_which_completes(sim, clock, client):
    ref = sim.add_order("badauth.example", script="bad_auth", age=DAY)
    before = await client.get_transfer(ref)
    assert before.phase is Phase.BLOCKED and before.raw_text == "Invalid auth code"
    result = await client.perform(ref, Action.RETRY)
    assert result.new_ref and f"resubmitted as order {result.new_ref}" in result.message
    old = await client.get_transfer(ref)
    assert old.phase is Phase.CANCELLED and old.actions == ()
    assert old.details["superseded by"] == result.new_ref
    clock.advance(6 * DAY)
    assert (await client.get_transfer(result.new_ref)).phase is Phase.COMPLETED
    with pytest.raises(errors.NotAllowedNow):
        await client.perform(ref, Action.RETRY)


async def test_a_resubmission_made_elsewhere_is_noticed(sim, client):
    ref = blocked(sim)
    assert (await client.get_transfer(ref)).phase is Phase.BLOCKED
    new = sim.resubmit(ref)  # someone used the OpenSRS control panel
    transfer = await client.get_transfer(ref)
    assert transfer.phase is Phase.CANCELLED and transfer.details["superseded by"] == new


async def test_cancel_ends_the_order_as_cancelled_not_blocked(sim, wire, client):
    ref = pending(sim)
    result = await client.perform(ref, Action.CANCEL)
    assert "cancelled" in result.message
    sent = parse_request(wire.requests[-1][1])
    assert (sent.action, sent.object) == ("CANCEL_TRANSFER", "TRANSFER")
    assert sent.attributes["reseller"] == RESELLER and sent.attributes["order_id"] == ref
    transfer = await client.get_transfer(ref)
    assert transfer.phase is Phase.CANCELLED and transfer.actions == ()


async def test_resend_only_while_waiting_for_the_owner(sim, clock, wire, client):
    ref = sim.add_order("mail.example")
    await client.perform(ref, Action.RESEND)
    assert sim.orders[ref].resends == 1
    assert parse_request(wire.requests[-1][1]).attributes == {"domain_name": "mail.example"}
    clock.advance(2 * 3600 + 60)
    with pytest.raises(errors.NotAllowedNow) as info:
        await client.perform(ref, Action.RESEND)
    assert "pending_admin" in info.value.message and "cancel" in info.value.message
    assert wire.actions().count("SEND_PASSWORD") == 1


async def test_listing_pages_through_everything_and_keeps_what_is_in_flight(sim, wire, client):
    moving = {sim.add_order(f"m{i}.example", age=i * 60) for i in range(50)}
    stuck = {blocked(sim, f"s{i}.example") for i in range(10)}
    done = {sim.add_order(f"d{i}.example", script="quick", age=3600) for i in range(30)}
    resubmitted = {blocked(sim, f"r{i}.example") for i in range(3)}
    moving |= {sim.resubmit(ref) for ref in resubmitted}
    on_request = [(0, "pending_owner", ""), (60, "cancelled", "Cancelled by reseller request")]
    sim.add_order("c.example", script=on_request, age=120)
    transfers = await client.list_transfers()
    assert {t.ref for t in transfers} == moving | stuck
    assert not done & {t.ref for t in transfers}
    assert all(t.phase is Phase.BLOCKED for t in transfers if t.ref in stuck)
    pages = [parse_request(body).attributes for _, body in wire.requests]
    assert [p["page"] for p in pages] == ["1", "2", "3"]
    assert all(int(p["limit"]) <= 40 for p in pages)


async def test_simulator_refuses_a_bad_signature_an_unknown_reseller_and_a_big_page(sim, url):
    body = SEED_001_REQUEST
    async with httpx.AsyncClient(base_url=url) as http:

        async def post(payload: bytes, user: str, key: str) -> Any:
            response = await http.post(
                "/",
                content=payload,
                headers={
                    "Content-Type": "text/xml",
                    "X-Username": user,
                    "X-Signature": sign(payload, key),
                },
            )
            assert response.status_code == 200
            return parse_reply(response.content)

        assert (await post(body, RESELLER, "wrong")).response_code == 410
        assert (await post(body, "someone_else", GOOD_SECRET)).response_code == 410
        big = build_envelope(
            {
                "protocol": "XCP",
                "action": "get_transfers_in",
                "object": "domain",
                "attributes": {"limit": "41"},
            }
        )
        assert (await post(big, RESELLER, GOOD_SECRET)).response_code == 465
        ok = big.replace(b">41<", b">40<")
        reply = await post(ok, RESELLER, GOOD_SECRET)
        assert reply.is_success and reply.attributes["total"] == "0"


async def test_the_sample_mix_and_what_is_listed(sim, client):
    seeded = sim.add_order("seeded.example", script="quick", age=90)
    sample = sim.populate_sample()
    phases = {ref: (await client.get_transfer(ref)).phase for ref in sample}
    assert sorted(p.value for p in phases.values()) == [
        "active",
        "active",
        "active",
        "blocked",
        "completed",
        "pending",
    ]
    listed = {t.ref for t in await client.list_transfers()}
    assert listed == {seeded} | {ref for ref, p in phases.items() if not p.finished}


# -- validation before sending, secrets ----------------------------------------------------------


async def test_an_account_without_a_reseller_name_sends_nothing(sim, wire, url):
    async with aclosing(OpenSRSProvider(make_account(url, username=None))) as provider:
        with pytest.raises(errors.AuthenticationFailed) as info:
            await provider.get_transfer(pending(sim))
    assert "username" in info.value.message and wire.requests == []


# -- faults on actions ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [300, 310, 350])
async def test_a_rate_limit_reply_to_a_read_fails_at_once_saying_when(sim, wire, client, code):
    ref = pending(sim)
    wire.replace["GET_TRANSFERS_IN"] = build_reply("DOMAIN", code, "Too many connections")
    with pytest.raises(errors.RateLimited) as info:
        await client.get_transfer(ref)
    assert "try again in a minute" in info.value.message and info.value.retry_after == 60
    assert wire.actions() == ["GET_TRANSFERS_IN"]  # a minute's wait is not worth blocking on


# -- hostile XML ---------------------------------------------------------------------------------


def _reply_with(doctype: str, text: str) -> bytes:
    return (
        f"<?xml version='1.0'?>{doctype}<OPS_envelope><header><version>0.9</version></header>"
        f'<body><data_block><dt_assoc><item key="action">REPLY</item>'
        f'<item key="is_success">1</item><item key="response_code">200</item>'
        f'<item key="response_text">{text}</item><item key="attributes"><dt_assoc>'
        f'<item key="total">0</item></dt_assoc></item></dt_assoc></data_block></body>'
        f"</OPS_envelope>"
    ).encode()


def _attacks(secret_file: str, canary: str) -> dict[str, bytes]:
    nested = '<dt_assoc><item key="a">' * 100 + "x" + "</item></dt_assoc>" * 100
    return {
        **classic_attacks(_reply_with, "OPS_envelope", secret_file, canary),
        "deep nesting": _envelope(nested),
        "very deep nesting": b"<OPS_envelope>"
        + b"<a>" * 100000
        + b"</a>" * 100000
        + b"</OPS_envelope>",
        "far over the cap": b"<OPS_envelope>" + b"<x/>" * (4 * 1024 * 1024) + b"</OPS_envelope>",
    }


class WatchedFile:
    """A named pipe that notes whether anything opened it, without leaving anyone blocked."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # returns once a reader has opened the pipe
        self._opened.set()
        os.write(fd, b'<!ENTITY leaked "MARKER-7f3a-never-read">')
        os.close(fd)

    @property
    def opened(self) -> bool:
        return self._opened.is_set()

    def release(self) -> None:
        reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer finish
        self._thread.join(timeout=5)
        os.close(reader)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[WatchedFile]:
    watched = WatchedFile(tmp_path / "secret.dtd")
    yield watched
    watched.release()


def _hostile_app(payload: bytes, *, chunked: bool) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        if not chunked:
            await _send_body(send, payload)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/xml")],
            }
        )
        step = 256 * 1024
        for start in range(0, len(payload), step):
            await send(
                {
                    "type": "http.response.body",
                    "body": payload[start : start + step],
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b""})

    return app


HOSTILE = [(attack, False) for attack in _attacks("/x", "http://x")] + [("far over the cap", True)]


@pytest.mark.parametrize(
    ("attack", "chunked"), HOSTILE, ids=[a + (", chunked" if c else "") for a, c in HOSTILE]
)
async def test_hostile_xml_is_a_bad_reply_that_reads_no_file_and_opens_no_connection(
    watched, attack, chunked
):
    async with Canary() as canary:
        payload = _attacks(str(watched.path), canary.url)[attack]
        async with (
            LoopbackServer(_hostile_app(payload, chunked=chunked)) as base,
            aclosing(OpenSRSProvider(make_account(base, read_retries=0))) as provider,
        ):
            with pytest.raises(errors.BadReply) as info:
                await provider.get_transfer("12345")
        await asyncio.sleep(0)
        assert canary.connections == 0
    assert not watched.opened
    error = info.value
    assert "MARKER" not in f"{error.message} {error.detail} {error!r}"
    assert error.message.endswith(".") and "srs-test" in error.message


def test_the_seed_doctype_opens_no_ops_dtd_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ops_dtd = WatchedFile(tmp_path / "ops.dtd")
    try:
        assert parse_reply(SEED_001_REPLY).attributes == {"order_id": "1111111"}
        opened = ops_dtd.opened
    finally:
        ops_dtd.release()
    assert not opened
