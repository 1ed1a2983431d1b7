"""Hostile XML against both XML clients, end to end: one table of attacks over OpenSRS and Gandi.

Each attack is served by a tiny ASGI app on loopback and fetched through the real client
(``build_provider``). It must be a BadReply, read no file (a sentinel file is watched with
inotify and its content searched for everywhere), open no connection (a listener on
loopback counts them), and be sent once. Each rejection's time is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
import xmlrpc.client
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from providers.base import Transfer
from providers.errors import BadReply, ProviderError
from providers.registry import build_provider
from providers.settings import ProviderAccount
from providers.simulators.base import LoopbackServer
from tests.providers.hostile_xml import classic_attacks
from tests.providers.plumbing import Canary, FileWatch, read_body
from tests.reliability.results import record

SENTINEL = "SENTINEL-file-content-5d1e"
SAFE = "harmless-marker.example"
OVERSIZED = 3 * 1024 * 1024  # over both clients' 1 MiB XML cap and ProviderHTTP's 2 MiB


# -- the two clients' documents, with the attacker's bit where a shown value belongs --------------


def _opensrs(doctype: str, domain: str) -> str:
    row = (
        '<dt_assoc><item key="order_id">12345</item><item key="status">completed</item>'
        f'<item key="domain">{domain}</item></dt_assoc>'
    )
    return (
        f"<?xml version='1.0' encoding='UTF-8'?>{doctype}<OPS_envelope><header><version>0.9"
        '</version></header><body><data_block><dt_assoc><item key="protocol">XCP</item>'
        '<item key="action">REPLY</item><item key="object">DOMAIN</item>'
        '<item key="is_success">1</item><item key="response_code">200</item>'
        '<item key="response_text">ok</item><item key="attributes"><dt_assoc>'
        f'<item key="total">1</item><item key="transfers"><dt_array><item key="0">{row}'
        "</item></dt_array></item></dt_assoc></item></dt_assoc></data_block></body></OPS_envelope>"
    )


def _gandi(doctype: str, domain: str) -> str:
    op = {"id": 40100000, "step": "DONE", "type": "domain_transfer_in", "params": {"domain": "@"}}
    body = xmlrpc.client.dumps((op,), methodresponse=True).replace("@", domain)
    return body.replace("<?xml version='1.0'?>\n", f"<?xml version='1.0'?>{doctype}")


@dataclass(frozen=True)
class Client:
    kind: str
    ref: str
    root: str
    document: Callable[[str, str], str]
    nest_open: str
    nest_close: str
    extra: dict[str, str] = field(default_factory=dict)


CLIENTS = {
    "opensrs": Client(
        "opensrs",
        "12345",
        "OPS_envelope",
        _opensrs,
        '<dt_assoc><item key="a">',
        "</item></dt_assoc>",
        {"username": "reseller"},
    ),
    "gandi": Client(
        "gandi",
        "40100000",
        "methodResponse",
        _gandi,
        "<value><array><data>",
        "</data></array></value>",
    ),
}


def _attacks(client: Client, sentinel: Path, canary: str) -> dict[str, bytes]:
    doc = client.document
    xinclude = (
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        f'href="file://{sentinel}" parse="text"/>'
    )
    nested = client.nest_open * 10_000 + "x" + client.nest_close * 10_000
    padding = "<x>" + "a" * OVERSIZED + "</x>"
    texts = {
        **classic_attacks(doc, client.root, sentinel, canary),
        "XInclude of a local file": doc("", xinclude),
        "deep nesting (10,000 levels)": doc("", nested),
        "oversized body, declared length": doc("", padding),
        "oversized body, streamed": doc("", padding),
    }
    attacks = {name: text.encode() for name, text in texts.items()}
    utf16 = texts["external entity, local file"].replace("encoding='UTF-8'", "encoding='UTF-16'")
    if "encoding='UTF-16'" not in utf16:
        utf16 = utf16.replace("<?xml version='1.0'?>", "<?xml version='1.0' encoding='UTF-16'?>")
    attacks["external entity, UTF-16 encoded"] = utf16.encode("utf-16")
    return attacks


ATTACK_NAMES = list(_attacks(CLIENTS["gandi"], Path("/x"), "http://x"))


# -- the traps -----------------------------------------------------------------------------------


class HostileServer:
    """An ASGI app answering every request with one document, whole or streamed in chunks."""

    def __init__(self, body: bytes, *, streamed: bool) -> None:
        self.body = body
        self.streamed = streamed
        self.requests: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(await read_body(receive))
        headers = [(b"content-type", b"text/xml")]
        if not self.streamed:
            headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        step = 256 * 1024 if self.streamed else len(self.body)
        for start in range(0, len(self.body), step):
            more = start + step < len(self.body)
            await send(
                {
                    "type": "http.response.body",
                    "body": self.body[start : start + step],
                    "more_body": more,
                }
            )


@dataclass
class Traps:
    sentinel: Path
    watch: FileWatch
    canary: Canary


@pytest.fixture
async def traps(tmp_path: Path) -> AsyncIterator[Traps]:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text(SENTINEL)
    watch = FileWatch(sentinel)
    try:
        async with Canary() as canary:
            yield Traps(sentinel, watch, canary)
    finally:
        watch.close()


async def _fetch(
    client: Client, body: bytes, *, streamed: bool
) -> tuple[object, float, HostileServer]:
    """The client's read against a server that answers ``body``: (outcome, seconds, server)."""
    server = HostileServer(body, streamed=streamed)
    async with LoopbackServer(server) as url:
        account = ProviderAccount.model_validate(
            {
                "name": f"{client.kind}-attacked",
                "type": client.kind,
                "base_url": url,
                "secret_env": "UNUSED",
                "secret": "attack-test-key-0000",
                "read_retries": 0,
                "timeout": 10,
                **client.extra,
            }
        )
        provider = build_provider(account)
        started = time.perf_counter()
        try:
            outcome: object = await provider.get_transfer(client.ref)
        except ProviderError as error:
            outcome = error
        finally:
            elapsed = time.perf_counter() - started
            await provider.aclose()
    return outcome, elapsed, server


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CLIENTS))
async def test_the_traps_work_and_a_harmless_reply_reads(kind, traps):
    """Without this, the attack table could pass because nothing would ever be seen."""
    client = CLIENTS[kind]
    outcome, _, server = await _fetch(client, client.document("", SAFE).encode(), streamed=False)
    assert isinstance(outcome, Transfer) and SAFE in outcome.subject, outcome
    assert len(server.requests) == 1
    traps.sentinel.read_text()
    _, writer = await asyncio.open_connection("127.0.0.1", traps.canary.port)
    writer.close()
    for _ in range(200):
        if traps.canary.connections:
            break
        await asyncio.sleep(0.01)
    assert traps.watch.touched() and traps.canary.connections == 1


@pytest.mark.parametrize("attack", ATTACK_NAMES)
@pytest.mark.parametrize("kind", list(CLIENTS))
async def test_an_xml_attack_is_a_bad_reply_that_reads_no_file_and_opens_no_connection(
    kind, attack, traps, caplog
):
    caplog.set_level(logging.DEBUG)
    client = CLIENTS[kind]
    body = _attacks(client, traps.sentinel, traps.canary.url)[attack]
    outcome, seconds, server = await _fetch(client, body, streamed="streamed" in attack)
    await asyncio.sleep(0)  # let a connection the parser might have opened be counted

    assert isinstance(outcome, BadReply), f"{attack}: {outcome!r}"
    assert outcome.message.endswith(".") and "\n" not in outcome.message
    everything = [outcome.message, outcome.detail or "", repr(outcome)]
    everything += [sent.decode("utf-8", "replace") for sent in server.requests]
    everything += [line.getMessage() for line in caplog.records]
    assert not any(SENTINEL in text for text in everything), "the sentinel's content showed"
    assert not traps.watch.touched(), "the sentinel file was opened"
    assert traps.canary.connections == 0, "a connection was opened"
    assert len(server.requests) == 1, "the read was sent more than once"

    milliseconds = round(seconds * 1000, 1)
    note = "From request to BadReply through the real client on loopback; the slower client."
    record(
        "bad inputs tried",
        f"XML attack rejected: {attack}",
        milliseconds,
        "ms",
        combine="max",
        note=note,
    )
    record(
        "bad inputs tried",
        "XML attacks rejected by the OpenSRS and Gandi clients",
        1,
        "inputs",
        combine="sum",
        note=f"Counted when rejected as required (of {len(ATTACK_NAMES)} attacks x 2 clients): "
        "a BadReply, no file opened, no connection, sent once.",
    )
    record(
        "bad inputs tried",
        "XML attacks: slowest rejection",
        milliseconds,
        "ms",
        combine="max",
        note="The slowest of all the attacks above.",
    )
