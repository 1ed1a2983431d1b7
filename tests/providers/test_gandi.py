"""Gandi XML-RPC v3: the contract, seed 004's words, the codec, faults, secrets, XML attacks."""

from __future__ import annotations

import asyncio
import xmlrpc.client
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from providers import errors
from providers.base import Action, Phase
from providers.gandi import GandiProvider
from providers.gandi.parse import transfer_from_operation
from providers.gandi.statuses import errortype_of, phase_of
from providers.gandi.wire import LIST_OPTION_NAMES, GandiV3, list_options
from providers.gandi.xmlrpc import (
    MAX_NESTING,
    XmlRpcEndpoint,
    XmlRpcFault,
    build_call,
    parse_call,
    parse_response,
)
from providers.http import ProviderHTTP
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer
from providers.simulators.gandi import GandiSimulator
from tests.providers.contract import (
    GOOD_SECRET,
    ActionCase,
    WrongBaseURL,
)
from tests.providers.gandi_contract import NEW_CODE, GandiContract
from tests.providers.hostile_xml import classic_attacks
from tests.providers.plumbing import Canary, FileWatch, read_body, replay


class TestGandiContract(GandiContract):
    provider_type = "gandi"
    read_operation = "operation.info"
    retry_operation = "operation.relaunch"
    action_cases = (
        ActionCase(Action.CANCEL, "seed_waiting", "operation.cancel"),
        ActionCase(
            Action.RETRY, "seed_missing_parameter", "operation.relaunch", {"authinfo": NEW_CODE}
        ),
    )
    unsupported_words = {
        Action.PAUSE: "cancelled while waiting",
        Action.RESUME: "cancelled while waiting",
        Action.RESEND: "cancelled while waiting",
    }
    bad_refs = ("abc", "0", "-5", "99999999999", "12 34", "٣٤٥", "")
    bad_ref_words = "Gandi operation ids are numbers"
    wrong_base_url = WrongBaseURL(
        errors.ProviderError,
        ("answered HTTP 404 to operation.info; check the account's base_url",),
        transient=False,
    )

    blocked_age = 700

    def make_simulator(self, clock, secret):
        return GandiSimulator(secret=secret, clock=clock)

    def add(self, sim, domain, **story):
        return sim.add_operation(domain, **story)

    def missing_ref(self):
        return "999999999"

    def seed_waiting(self, sim):
        return sim.add_operation("example.com", story="stays_waiting", age=60)

    def seed_missing_parameter(self, sim):
        return sim.add_operation("example.com", story="missing_parameter", age=60)

    def shown_by(self, provider):
        return [repr(provider), repr(provider._api)]

    def seeding(self):
        spec = {
            "operations": [
                {"domain": "seeded.example", "story": "support", "age": 600},
                {
                    "domain": "own.example",
                    "script": [[0, "BILL"], [1, "RUN"]],
                    "type": "domain_ns_set",
                    "age": 5,
                },
            ]
        }
        return spec, {"colour": "red"}

    def check_seeded(self, transfers, reply):
        first, second = transfers
        assert (first.subject, first.phase) == ("seeded.example", Phase.BLOCKED)
        assert (second.raw_code, second.details["operation type"]) == ("RUN", "domain_ns_set")


# -- fixtures ----------------------------------------------------------------------------
def account(url: str, secret: str = GOOD_SECRET, **extra: Any) -> ProviderAccount:
    fields = {
        "name": "gandi-main",
        "type": "gandi",
        "base_url": url,
        "secret_env": "UNUSED",
        "secret": secret,
        "timeout": 0.5,
        "read_retries": 1,
        "rate_limit": 1000,
        **extra,
    }
    return ProviderAccount.model_validate(fields)


def v3(url: str, secret: str = GOOD_SECRET) -> GandiV3:
    acc = account(url, secret)
    return GandiV3(XmlRpcEndpoint(ProviderHTTP(acc), acc.base_url), apikey=acc.secret)


class Recorder:
    """ASGI middleware keeping each XML-RPC call (path, method, params) on its way to the app."""

    def __init__(self, app: Any) -> None:
        self.app, self.calls = app, []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            return await self.app(scope, receive, send)
        body = await read_body(receive)
        try:
            self.calls.append((scope["path"], *parse_call(body)))
        except errors.BadReply:
            self.calls.append((scope["path"], "unreadable", []))
        await self.app(scope, replay(body), send)


@pytest.fixture
def contract() -> TestGandiContract:
    return TestGandiContract()


@pytest.fixture
def wire(sim) -> Recorder:
    return Recorder(sim)


@pytest.fixture
async def url(wire) -> AsyncIterator[str]:
    async with LoopbackServer(wire) as served:
        yield served


@pytest.fixture
async def gandi(url) -> AsyncIterator[GandiProvider]:
    client = GandiProvider(account(url))
    yield client
    await client.aclose()


def calls(sim: GandiSimulator) -> int:
    return sum(sim.faults.calls.values())


# -- seed 004's vocabulary ---------------------------------------------------------------
SEED_LIST_OPTIONS = {
    "<date_created": "2024-01-01 00:00:00", "<date_start": "2024-01-01 00:00:00",
    "<date_updated": "2024-01-01 00:00:00", ">date_created": "2024-01-01 00:00:00",
    ">date_start": "2024-01-01 00:00:00", ">date_updated": "2024-01-01 00:00:00",
    "cert.hostname": "www.example.com", "cert_id": [1, 2], "contact_id": 1,
    "date_created": "2024-01-01 00:00:00", "date_start": "2024-01-01 00:00:00",
    "date_updated": "2024-01-01 00:00:00", "disk.name": "sys", "disk_id": 1,
    "domain": "example.com", "id": [40100000], "iface_id": 1, "items_per_page": 10,
    "mbox_id": 1, "paas.name": "p", "paas_id": 1, "page": 0, "site.name": "s", "site_id": 1,
    "sort_by": "date_updated", "step": "RUN", "type": "domain_transfer_in",
    "vm.hostname": "vm1", "vm_id": 1,
}  # fmt: skip


def test_the_client_knows_exactly_the_seed_list_options() -> None:
    assert set(SEED_LIST_OPTIONS) == LIST_OPTION_NAMES


async def test_every_seed_list_option_is_accepted_by_the_simulator(url) -> None:
    api = v3(url)
    try:
        for name, value in SEED_LIST_OPTIONS.items():  # one call each: a refusal names it
            assert await api.operation_count({name: value}) >= 0, name
    finally:
        await api.endpoint.http.aclose()


async def test_an_option_the_seed_does_not_name_is_refused_in_gandis_words(url) -> None:
    api = v3(url)
    with pytest.raises(errors.InvalidInput) as info:
        await api.operation_list({"colour": "blue"})
    await api.endpoint.http.aclose()
    assert "Unknown option 'colour'" in info.value.message
    assert "CAUSE_BADPARAMETER" in (info.value.detail or "")


async def test_a_list_call_carries_seed_option_names_and_they_filter(sim, wire, url, clock):
    old = sim.add_operation("old-example.com", story="stays_waiting", age=86400)
    new = [sim.add_operation(f"new{i}-example.com", story="stays_waiting") for i in range(3)]
    sim.add_operation("renew-example.com", story="stays_waiting", op_type="domain_renew")
    clock.advance(10)  # BILL -> WAIT
    options = list_options(
        type="domain_transfer_in",
        step="WAIT",
        sort_by="date_created",
        created_after=clock.now() - timedelta(hours=1),
        page=0,
        items_per_page=2,
    )
    api = v3(url)
    first = await api.operation_list(options)
    second = await api.operation_list({**options, "page": 1})
    total = await api.operation_count(options)
    await api.endpoint.http.aclose()
    sent = wire.calls[0][2][1]
    assert set(sent) == {"type", "step", "sort_by", ">date_created", "page", "items_per_page"}
    assert [str(op["id"]) for op in first + second] == new and total == 3
    assert old not in {str(op["id"]) for op in first + second}


# -- the XML-RPC codec on plain data -------------------------------------------------------
ALL_TYPES = b"""<?xml version="1.0"?>
<methodResponse xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"><params><param>
<value><struct>
 <member><name>int</name><value><int>-7</int></value></member>
 <member><name>i4</name><value><i4>42</i4></value></member>
 <member><name>i8</name><value><i8>9007199254740993</i8></value></member>
 <member><name>yes</name><value><boolean>1</boolean></value></member>
 <member><name>no</name><value><boolean>0</boolean></value></member>
 <member><name>string</name><value><string>a &amp; b &lt;c&gt;</string></value></member>
 <member><name>empty</name><value><string/></value></member>
 <member><name>untyped</name><value>plain text</value></member>
 <member><name>double</name><value><double>-1.5e3</double></value></member>
 <member><name>date</name><value><dateTime.iso8601>20240301T10:11:12</dateTime.iso8601></value>
 </member>
 <member><name>zoned</name><value><dateTime.iso8601>2024-03-01T12:11:12+02:00</dateTime.iso8601>
 </value></member>
 <member><name>bytes</name><value><base64>aGVsbG8=</base64></value></member>
 <member><name>nil</name><value><nil/></value></member>
 <member><name>exnil</name><value><ex:nil/></value></member>
 <member><name>list</name><value><array><data><value><int>1</int></value>
   <value><array><data/></array></value></data></array></value></member>
</struct></value></param></params></methodResponse>"""


def test_each_xmlrpc_value_type_is_read() -> None:
    assert parse_response(ALL_TYPES) == {
        "int": -7, "i4": 42, "i8": 9007199254740993, "yes": True, "no": False,
        "string": "a & b <c>", "empty": "", "untyped": "plain text", "double": -1500.0,
        "date": datetime(2024, 3, 1, 10, 11, 12, tzinfo=UTC),
        "zoned": datetime(2024, 3, 1, 10, 11, 12, tzinfo=UTC), "bytes": b"hello",
        "nil": None, "exnil": None, "list": [1, []],
    }  # fmt: skip


def test_a_reply_built_by_the_standard_library_reads_back() -> None:
    value = {
        "id": 5,
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "ok": True,
        "steps": ["BILL", "RUN"],
        "nothing": None,
        "ratio": 0.25,
    }
    body = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()
    assert parse_response(body) == value


def test_a_fault_is_raised_with_its_code_and_string() -> None:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(530040, "no credit")).encode()
    with pytest.raises(XmlRpcFault) as info:
        parse_response(body)
    assert (info.value.code, info.value.string) == (530040, "no credit")


def test_a_call_round_trips_with_the_api_key_first() -> None:
    body = build_call("operation.relaunch", ["key-1", 42, {"authinfo": "x"}])
    assert parse_call(body) == ("operation.relaunch", ["key-1", 42, {"authinfo": "x"}])


def _reply(value_xml: str) -> bytes:
    return (
        f"<methodResponse><params><param><value>{value_xml}</value></param></params>"
        "</methodResponse>"
    ).encode()


@pytest.mark.parametrize("body", [
    b"not xml at all",
    b"<methodCall><methodName>x</methodName></methodCall>",
    b"<methodResponse/>",
    b"<methodResponse><params/></methodResponse>",
    b"<methodResponse><params><param><value>1</value></param><param><value>2</value></param>"
    b"</params></methodResponse>",
    _reply("<foo>1</foo>"), _reply("<int>12a</int>"), _reply("<int>99999999999999999999</int>"),
    _reply("<boolean>2</boolean>"), _reply("<double>nan</double>"),
    _reply("<dateTime.iso8601>yesterday</dateTime.iso8601>"), _reply("<base64>!!</base64>"),
    _reply("<dateTime.iso8601>00010101T00:00:00+05:00</dateTime.iso8601>"),  # before year 1 UTC
    _reply("<struct><member><value>1</value></member></struct>"), _reply("<array/>"),
    _reply("<int>1</int><int>2</int>"), _reply("<int><b>1</b></int>"),
    _reply("<string>" + "a" * 1_600_000 + "</string>"),
    _reply("<array><data>" + "<value/>" * 100_001 + "</data></array>"),
    b"<methodResponse><fault><value><struct><member><name>faultString</name><value>x</value>"
    b"</member></struct></value></fault></methodResponse>",
    b"<methodResponse><fault><value><struct><member><name>faultCode</name><value>510150</value>"
    b"</member></struct></value></fault></methodResponse>",
    b'<!DOCTYPE methodResponse SYSTEM "x.dtd"><methodResponse><params><param><value>1</value>'
    b"</param></params></methodResponse>",
])  # fmt: skip
def test_anything_but_a_well_formed_reply_is_a_bad_reply(body) -> None:
    with pytest.raises(errors.BadReply) as info:
        parse_response(body, what="The reply")
    assert info.value.message.startswith("The reply") and info.value.message.endswith(".")


# -- phases, actions and words on plain data ----------------------------------------------
SEED_ERRORS = {  # seed 004, "Possible Errors": identifier -> type
    "authorization_error": "support_recoverable", "duplicate": "fatal",
    "missing_parameter": "client_recoverable", "ratelimit": "temporary",
    "timeout": "temporary", "unknown": "unknown",
}  # fmt: skip


@pytest.mark.parametrize(("shape", "expected"), [
    *((ident, kind) for ident, kind in SEED_ERRORS.items()),
    *((kind, kind) for kind in set(SEED_ERRORS.values())),
    ({"type": "fatal", "name": "duplicate"}, "fatal"),
    ({"name": "missing_parameter"}, "client_recoverable"),
    ({"authorization_error": "support_recoverable"}, "support_recoverable"),
    (None, "unknown"), ("", "unknown"), ("something_new", "unknown"), (42, "unknown"),
])  # fmt: skip
def test_errortype_is_read_from_a_string_or_a_struct(shape, expected) -> None:
    assert errortype_of(shape) == expected


@pytest.mark.parametrize(("step", "errortype", "op_type", "phase", "actions"), [
    ("BILL", None, "domain_transfer_in", Phase.PENDING, ("cancel",)),
    ("WAIT", None, "domain_transfer_in", Phase.PENDING, ("cancel",)),
    ("RUN", None, "domain_transfer_in", Phase.ACTIVE, ()),
    ("DONE", None, "domain_transfer_in", Phase.COMPLETED, ()),
    ("CANCEL", None, "domain_transfer_in", Phase.CANCELLED, ()),
    ("SUPPORT", None, "domain_transfer_in", Phase.BLOCKED, ()),
    ("ERROR", "client_recoverable", "domain_transfer_in", Phase.BLOCKED, ("retry", "cancel")),
    ("ERROR", "support_recoverable", "domain_change_owner", Phase.BLOCKED, ("retry", "cancel")),
    ("ERROR", "support_recoverable", "domain_renew", Phase.BLOCKED, ("cancel",)),
    ("ERROR", "temporary", "domain_transfer_in", Phase.ACTIVE, ("cancel",)),
    ("ERROR", "fatal", "domain_transfer_in", Phase.FAILED, ()),
    ("ERROR", "unknown", "domain_transfer_in", Phase.BLOCKED, ("cancel",)),
    ("ERROR", None, "domain_transfer_in", Phase.BLOCKED, ("cancel",)),
    ("SOMETHING_NEW", None, "domain_transfer_in", Phase.ACTIVE, ()),
])  # fmt: skip
def test_steps_and_errortypes_map_to_phases_and_actions(step, errortype, op_type, phase, actions):
    op = {
        "id": 1,
        "step": step,
        "type": op_type,
        "errortype": errortype,
        "params": {"domain": "example.com"},
    }
    transfer = transfer_from_operation(op, account="gandi-main")
    assert (transfer.phase, transfer.action_names) == (phase, actions)
    assert phase_of(step, errortype_of(errortype)) is phase
    assert transfer.raw_code == (f"ERROR/{errortype or 'unknown'}" if step == "ERROR" else step)
    retry = transfer.action(Action.RETRY)
    if retry:
        assert retry.verb == "relaunch" and retry.inputs[0].secret
    cancel = transfer.action(Action.CANCEL)
    assert cancel is None or cancel.destructive


def test_an_operation_struct_becomes_a_card_without_its_secrets() -> None:
    created = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    op = {
        "id": 40123456,
        "type": "domain_transfer_in",
        "step": "ERROR",
        "params": {"domain": "example.com", "authinfo": "Sekr3t-Auth", "duration": 1},
        "errortype": "support_recoverable",
        "last_error": "Registry refused Sekr3t-Auth",
        "eta": 0,
        "date_created": created,
        "date_start": created + timedelta(minutes=1),
        "date_updated": created + timedelta(hours=1),
        "infos": [{"label": "example.com"}],
        "session_id": 77,
        "source": "AB123-GANDI",
    }
    transfer = transfer_from_operation(op, account="gandi-main")
    assert (transfer.ref, transfer.subject) == ("40123456", "example.com")
    assert transfer.raw_text == "Registry refused ••••••"
    assert transfer.changed_at == created + timedelta(hours=1)
    assert [h.raw_code for h in transfer.history] == [
        "created",
        "started",
        "ERROR/support_recoverable",
    ]
    assert transfer.waiting_for and "authinfo" in transfer.waiting_for
    assert transfer.details["source"] == "AB123-GANDI"
    assert "Sekr3t-Auth" not in repr(transfer)


@pytest.mark.parametrize(
    "op", [{"step": "RUN"}, {"id": "abc", "step": "RUN"}, {"id": 1}, {"id": 1, "step": 5}]
)
def test_an_operation_without_id_or_step_is_a_bad_reply(op) -> None:
    with pytest.raises(errors.BadReply):
        transfer_from_operation(op, account="gandi-main")


# -- transfers moving through time, through the simulator --------------------------------
async def test_a_transfer_moves_from_pending_to_active_to_completed(sim, gandi, clock) -> None:
    start = clock.now()
    ref = sim.add_operation("example.com", story="completes")
    seen = []
    for seconds in (0, 10, 3600, 400):
        clock.advance(seconds)
        transfer = await gandi.get_transfer(ref)
        seen.append((transfer.phase, transfer.raw_code))
    assert seen == [
        (Phase.PENDING, "BILL"),
        (Phase.PENDING, "WAIT"),
        (Phase.ACTIVE, "RUN"),
        (Phase.COMPLETED, "DONE"),
    ]
    done_at = (start + timedelta(seconds=3900)).replace(microsecond=0)  # the story's DONE
    assert transfer.actions == () and transfer.changed_at == done_at


@pytest.mark.parametrize("story", ["ratelimit", "timeout"])
async def test_a_temporary_error_is_active_and_moves_on_by_itself(sim, gandi, clock, story):
    ref = sim.add_operation("example.com", story=story, age=40)
    transfer = await gandi.get_transfer(ref)
    assert (transfer.phase, transfer.raw_code) == (Phase.ACTIVE, "ERROR/temporary")
    assert transfer.action(Action.RETRY) is None and "retry it by itself" in transfer.waiting_for
    clock.advance(1200)
    assert (await gandi.get_transfer(ref)).phase is Phase.COMPLETED


ERROR_STORIES = {  # simulator story -> phase, retry offered
    "authorization_error": (Phase.BLOCKED, True), "missing_parameter": (Phase.BLOCKED, True),
    "duplicate": (Phase.FAILED, False), "unknown": (Phase.BLOCKED, False),
    "support": (Phase.BLOCKED, False),
}  # fmt: skip


@pytest.mark.parametrize("shape", ["string", "struct"])
async def test_each_error_the_simulator_raises_reads_right(clock, shape) -> None:
    sim = GandiSimulator(secret=GOOD_SECRET, clock=clock, errortype_as=shape)
    refs = {
        story: sim.add_operation(f"{story}.example", story=story, age=3600)
        for story in ERROR_STORIES
    }
    async with LoopbackServer(sim) as url:
        client = GandiProvider(account(url))
        for story, (phase, retry) in ERROR_STORIES.items():
            transfer = await client.get_transfer(refs[story])
            assert transfer.phase is phase, story
            assert (transfer.action(Action.RETRY) is not None) is retry, story
            assert transfer.raw_text and (transfer.waiting_for is not None) is (
                phase is Phase.BLOCKED
            ), story
        await client.aclose()


# -- actions -----------------------------------------------------------------------------
async def test_cancel_while_waiting_cancels(sim, gandi, clock) -> None:
    ref = sim.add_operation("example.com", story="stays_waiting", age=60)
    result = await gandi.perform(ref, Action.CANCEL)
    assert result.message == f"Gandi cancelled operation {ref} (example.com)."
    assert result.transfer is not None and result.transfer.phase is Phase.CANCELLED
    clock.advance(86400)
    assert (await gandi.get_transfer(ref)).raw_code == "CANCEL"


async def test_cancel_while_running_is_refused_before_sending(sim, gandi) -> None:
    ref = sim.add_operation("example.com", story="quick", age=10)
    with pytest.raises(errors.NotAllowedNow) as info:
        await gandi.perform(ref, Action.CANCEL)
    assert "is active (RUN), so it can't be cancelled" in info.value.message
    assert sim.faults.calls["operation.cancel"] == 0


async def test_a_blocked_transfer_says_what_can_be_done_instead(sim, gandi) -> None:
    ref = sim.add_operation("example.com", story="support", age=600)
    with pytest.raises(errors.NotAllowedNow) as info:
        await gandi.perform(ref, Action.RETRY)
    assert info.value.message.endswith("it is waiting for Gandi support.")
    assert sim.faults.calls["operation.relaunch"] == 0


async def test_relaunch_with_a_wrong_code_blocks_again_and_the_right_one_completes(
    sim, gandi, clock, contract
) -> None:
    ref = contract.seed_blocked(sim)
    await gandi.perform(ref, Action.RETRY, {"authinfo": "Wrong-Code-9"})
    clock.advance(30)
    again = await gandi.get_transfer(ref)
    assert (again.phase, again.raw_code) == (Phase.BLOCKED, "ERROR/support_recoverable")
    result = await gandi.perform(ref, Action.RETRY, {"authinfo": NEW_CODE})
    assert "with the new authinfo" in result.message
    assert result.transfer is not None and result.transfer.phase is Phase.ACTIVE
    clock.advance(300)
    assert (await gandi.get_transfer(ref)).phase is Phase.COMPLETED
    assert NEW_CODE not in repr(result) and NEW_CODE not in repr(again)


async def test_relaunch_carries_the_missing_extension_field(sim, gandi, clock) -> None:
    ref = sim.add_operation(
        "example.fi", story="missing_parameter", age=60, missing="x-fi_ident_number"
    )
    await gandi.perform(ref, Action.RETRY)
    clock.advance(30)
    blocked = await gandi.get_transfer(ref)
    assert blocked.phase is Phase.BLOCKED and "x-fi_ident_number" in blocked.raw_text
    await gandi.perform(ref, Action.RETRY, {"x-fi_ident_number": "131052-308T"})
    clock.advance(300)
    assert (await gandi.get_transfer(ref)).phase is Phase.COMPLETED


async def test_relaunch_without_prepaid_credit_says_so(sim, gandi) -> None:
    sim.prepaid_credit = False
    ref = sim.add_operation("example.com", story="missing_parameter", age=60)
    with pytest.raises(errors.NotAllowedNow) as info:
        await gandi.perform(ref, Action.RETRY)
    assert "no prepaid credit" in info.value.message and "530040" in info.value.detail


async def test_a_type_gandi_cannot_relaunch_offers_no_retry(sim, gandi) -> None:
    ref = sim.add_operation(
        "example.com", story="missing_parameter", age=60, op_type="domain_renew"
    )
    transfer = await gandi.get_transfer(ref)
    assert transfer.phase is Phase.BLOCKED and transfer.action_names == ("cancel",)
    with pytest.raises(errors.NotAllowedNow) as info:
        await gandi.perform(ref, Action.RETRY)
    assert info.value.message.endswith(
        "is blocked (ERROR/client_recoverable), so it can't be relaunched; it can be cancelled."
    )
    assert sim.faults.calls["operation.relaunch"] == 0


RELAUNCH_INPUT_PROBLEMS = [
    ({"authinfo": "abc"}, "at least 6"), ({"authinfo": "x" * 65}, "at most 64"),
    ({"colour": "blue"}, "not 'colour'"), ({"x-fi_ident_number": "a\nb"}, "control"),
]  # fmt: skip


async def test_relaunch_inputs_are_checked_before_anything_is_sent(sim, gandi) -> None:
    ref = sim.add_operation("example.com", story="missing_parameter", age=60)
    for inputs, words in RELAUNCH_INPUT_PROBLEMS:
        with pytest.raises(errors.InvalidInput, match=words):
            await gandi.perform(ref, Action.RETRY, inputs)
    assert calls(sim) == 0


# -- faults on each action call --------------------------------------------------------------
@pytest.mark.parametrize(("setup", "error"), [
    ("wrong_key", errors.AuthenticationFailed), ("missing", errors.TransferNotFound),
    ("running", errors.NotAllowedNow),
])  # fmt: skip
@pytest.mark.parametrize("method", ["operation_cancel", "operation_relaunch"])
async def test_gandi_faults_on_each_action_call_map_to_the_error_tree(
    sim, url, setup, error, method
) -> None:
    ref = int(sim.add_operation("example.com", story="quick", age=10))
    api = v3(url, "wrong-key-000000" if setup == "wrong_key" else GOOD_SECRET)
    args = (999999999 if setup == "missing" else ref,) + ((), ({},))[method.endswith("launch")]
    try:
        with pytest.raises(error) as info:
            await getattr(api, method)(*args)
    finally:
        await api.endpoint.http.aclose()
    assert info.value.message.endswith(".") and "gandi account 'gandi-main'" in info.value.message
    assert "wrong-key-000000" not in info.value.message + (info.value.detail or "")


# -- secrets echoed, addresses ----------------------------------------------------------
def _fault_app(string: str, status: int = 200) -> Any:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(510150, string)).encode()
    return _fixed_app(body, status=status)


def _fixed_app(
    body: bytes,
    *,
    status: int = 200,
    content_type: str = "text/xml",
    headers: dict[str, str] | None = None,
    chunks: int = 1,
) -> Any:
    hits = []

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        hits.append(scope["path"])
        raw = [(b"content-type", content_type.encode())]
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        if chunks == 1:
            raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        step = max(1, len(body) // chunks)
        for start in range(0, len(body), step):
            await send(
                {
                    "type": "http.response.body",
                    "body": body[start : start + step],
                    "more_body": start + step < len(body),
                }
            )

    app.hits = hits
    return app


async def _read_through(app: Any, ref: str = "40100000", **extra: Any) -> errors.ProviderError:
    async with (
        LoopbackServer(app) as served,
        aclosing(GandiProvider(account(served, **extra))) as client,
    ):
        with pytest.raises(errors.ProviderError) as info:
            await client.get_transfer(ref)
    return info.value


async def test_a_fault_that_echoes_the_api_key_is_scrubbed_even_when_sent_with_http_500():
    error = await _read_through(_fault_app(f"Invalid API key '{GOOD_SECRET}'", status=500))
    assert isinstance(error, errors.AuthenticationFailed)
    assert GOOD_SECRET not in error.message + (error.detail or "")
    assert "••••••" in (error.detail or "")


# -- the transport -------------------------------------------------------------------------
async def test_calls_go_to_the_base_url_as_given(sim, wire, url) -> None:
    ref = sim.add_operation("example.com", age=60)
    for path in ("/xmlrpc", "/xmlrpc/"):  # the account settings keep the path as written
        client = GandiProvider(account(url + path))
        await client.get_transfer(ref)
        await client.aclose()
    assert [call[0] for call in wire.calls] == ["/xmlrpc", "/xmlrpc/"]
    assert wire.calls[0][1:] == ("operation.info", [GOOD_SECRET, int(ref)])


async def test_a_redirect_says_to_set_the_base_url_to_the_endpoint() -> None:
    headers = {"location": "https://rpc.gandi.net/xmlrpc/"}
    error = await _read_through(_fixed_app(b"", status=301, headers=headers))
    assert "redirected the call to https://rpc" in error.message and not error.transient


# -- XML attacks against the client ----------------------------------------------------------
def _wrap(doctype: str, value: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n{doctype}\n<methodResponse><params><param><value>'
        f"{value}</value></param></params></methodResponse>"
    ).encode()


def _attacks(secret_file: Path, trap_url: str) -> dict[str, bytes]:
    attacks = classic_attacks(_wrap, "methodResponse", secret_file, trap_url)
    nest = MAX_NESTING + 2
    return {
        **attacks,
        "external entity, utf-16": attacks["external entity, local file"]
        .replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"')
        .decode()
        .encode("utf-16"),
        "padded internal subset": _wrap(
            f'<!DOCTYPE m [<!-- {"p" * 5000} --><!ENTITY x SYSTEM "file://{secret_file}">]>', "&x;"
        ),
        "deep nesting": _wrap("", "<value><array><data>" * 5000 + "</data></array></value>" * 5000),
        "nesting past our cap": _wrap(
            "", "<array><data><value>" * nest + "1" + "</value></data></array>" * nest
        ),
    }


async def test_xml_attacks_fail_as_bad_replies_reading_no_file_and_opening_no_connection(
    tmp_path,
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-MARKER")
    watch = FileWatch(secret_file)
    async with Canary() as trap:
        for name, body in _attacks(secret_file, trap.url).items():
            error = await _read_through(_fixed_app(body), read_retries=0)
            assert isinstance(error, errors.BadReply), name
            assert "TOP-SECRET-MARKER" not in error.message + (error.detail or ""), name
        assert trap.connections == 0 and not watch.touched()
        # the traps work: a real read and a real connection are seen
        secret_file.read_text()
        _, writer = await asyncio.open_connection("127.0.0.1", trap.port)
        writer.close()
        for _ in range(100):
            if trap.connections:
                break
            await asyncio.sleep(0.01)
    assert trap.connections == 1 and watch.touched()


@pytest.mark.parametrize("chunks", [1, 64], ids=["declared length", "streamed"])
async def test_a_reply_far_over_the_cap_is_a_bad_reply(chunks) -> None:
    body = _wrap("", "<string>" + "a" * (3 * 1024 * 1024) + "</string>")
    error = await _read_through(_fixed_app(body, chunks=chunks), read_retries=0)
    assert isinstance(error, errors.BadReply) and "oversized" in error.message


# -- listing ---------------------------------------------------------------------------------
async def test_listing_pages_through_each_unfinished_step_of_transfers_only(
    sim, wire, gandi, clock
) -> None:
    running = [sim.add_operation(f"r{i}.example", story="quick", age=10) for i in range(205)]
    wanted = {
        sim.add_operation("wait.example", story="stays_waiting", age=60),
        sim.add_operation("temp.example", story="ratelimit", age=40),
        sim.add_operation("support.example", story="support", age=600),
        sim.add_operation("blocked.example", story="missing_parameter", age=60),
        *running,
    }
    finished = {
        sim.add_operation("done.example", story="quick", age=600),
        sim.add_operation("fatal.example", story="duplicate", age=600),
        sim.add_operation("renew.example", story="stays_waiting", age=60, op_type="domain_renew"),
    }
    cancelled = sim.add_operation("cancel.example", story="stays_waiting", age=60)
    await gandi.perform(cancelled, Action.CANCEL)
    wire.calls.clear()
    refs = {t.ref for t in await gandi.list_transfers()}
    assert refs == wanted and not refs & (finished | {cancelled})
    pages = [(c[2][1]["step"], c[2][1]["page"]) for c in wire.calls if c[1] == "operation.list"]
    assert pages == [
        ("BILL", 0),
        ("WAIT", 0),
        ("RUN", 0),
        ("RUN", 1),
        ("RUN", 2),
        ("ERROR", 0),
        ("SUPPORT", 0),
    ]
    assert all(c[2][1]["type"] == "domain_transfer_in" for c in wire.calls)


# -- the simulator ---------------------------------------------------------------------------
async def test_the_sample_is_a_realistic_mix(sim, gandi) -> None:
    phases = [(await gandi.get_transfer(ref)).phase for ref in sim.populate_sample()]
    assert {Phase.PENDING, Phase.ACTIVE, Phase.BLOCKED, Phase.COMPLETED, Phase.FAILED} <= set(
        phases
    )


@pytest.mark.parametrize(("method", "args", "words"), [
    ("operation.nope", [], "Unknown method 'operation.nope'"),
    ("operation.info", ["40100000"], "operation must be an integer"),
    ("operation.info", [], "Wrong number of arguments"),
    ("operation.cancel", [40100000], "can not be cancelled in step RUN"),
    ("operation.relaunch", [40100000], "can not be relaunched in step RUN"),
    ("operation.relaunch", [40100001], "of type domain_renew can not be relaunched"),
    ("operation.relaunch", [40100002, {"colour": "x"}], "unknown parameter"),
    ("operation.list", [{"sort_by": "colour"}], "Bad value for option 'sort_by'"),
    ("operation.list", [{"items_per_page": 0}], "Bad value for option 'items_per_page'"),
])  # fmt: skip
def test_the_simulator_refuses_like_gandi(sim, method, args, words) -> None:
    sim.add_operation("run.example", story="quick", age=10)
    sim.add_operation("renew.example", story="missing_parameter", age=60, op_type="domain_renew")
    sim.add_operation("error.example", story="missing_parameter", age=60)
    body = build_call(method, [GOOD_SECRET, *args])
    status, headers, reply = asyncio.run(sim.handle({"path": "/", "method": "POST"}, body))
    with pytest.raises(XmlRpcFault) as info:
        parse_response(reply)
    assert status == 200 and headers["content-type"] == "text/xml"
    assert info.value.string.startswith("Error on object : OBJECT_") and words in info.value.string
