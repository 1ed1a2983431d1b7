"""`transferbot demo`: the bot's whole job in about a minute, on loopback, with no accounts.

Six transfers are watched, one at each provider, one more at Gandi over its v5 API and
a second at Hostway; they get stuck, are alerted, retried with a second person's approval,
paused and resumed, have their approval e-mail resent, and finish. One stuck transfer is
ignored: the bot reminds the channel, escalates it to a user group, someone takes it on
and it is fixed. Everything goes through
the bot's real request path: signed slash commands, clicks and form submissions into its
HTTP endpoint; its Web API calls into a local stand-in that prints what Slack would show.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.runtime.signals import stop_signals
from bot.runtime.stage import (
    ALERTS,
    ALICE,
    BOB,
    CHANNELS,
    OPS,
    TRIAGE,
    DemoFailed,
    Stage,
    open_stage,
)
from bot.watcher.decisions import HEADER
from storage.alerts import count_alerts_by_kind
from storage.models import RequestState
from storage.requests import list_requests

__all__ = ["DemoFailed", "Story", "run_demo"]

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
HOSTWAY_DOMAIN = "wrong-epp.example"
IGNORED_DOMAIN = "locked-at-registrar.example"  # blocks with it; nobody looks for hours
RESET = "Retry (reset)"  # the button Hostway's blocked transfers offer
NEW_AUTH_INFO = "Right-EPP-42"  # what the registry accepts; the order was placed with another
GANDI_DOMAIN = "bakery-example.net"
GANDI_NEW_AUTHINFO = "New-Code-2222"
AUTH_ERROR = "authorization_error"  # the registry refused the authinfo
OPENSRS_DOMAIN = "wingtip.biz"
GANDI_V5_DOMAIN = "studio-example.org"  # waits for its owner's approval (FOA) e-mail
CPANEL_ACCOUNTS = ({"user": "shop", "size": 20_000_000_000},
                   {"user": "blog", "size": 16_000_000_000})  # fmt: skip  # ~2 h of work


@dataclass
class Story:
    """The refs of the story's six transfers, as their providers name them."""

    hostway: str = ""
    ignored: str = ""
    cpanel: str = ""
    gandi: str = ""
    gandi_v5: str = ""
    opensrs: str = ""
    opensrs_new: str = ""
    short: dict[str, str] = field(default_factory=dict)  # provider -> the bot's short id

    def refs(self) -> list[tuple[str, str]]:
        """(provider, ref) of each transfer; for OpenSRS the newest order."""
        opensrs = self.opensrs_new or self.opensrs
        return [("hostway", self.hostway), ("hostway", self.ignored), ("cpanel", self.cpanel),
                ("gandi", self.gandi), ("opensrs", opensrs),
                ("gandi_v5", self.gandi_v5)]  # fmt: skip


def place_transfers(stage: Stage) -> Story:
    """Put one transfer at each simulator, each a little way into its life."""
    story = Story()
    story.hostway = stage.sim("hostway").add_transfer(
        HOSTWAY_DOMAIN, script="bad_auth", age=40 * MINUTE, correct_auth_info=NEW_AUTH_INFO
    )  # waiting on the registry now; blocks on a bad authInfo (32) in 20 minutes
    story.ignored = stage.sim("hostway").add_transfer(
        IGNORED_DOMAIN, script="locked", age=40 * MINUTE
    )  # blocks on the domain's status at the registry (22) at the same time
    story.cpanel = stage.sim("cpanel").add_session(
        "RUNNING", accounts=list(CPANEL_ACCOUNTS), remote_host="old-server.example.com", ago=60
    )
    story.gandi = stage.sim("gandi").add_operation(
        GANDI_DOMAIN,
        script=[
            (0, "BILL"),
            (5, "WAIT"),
            (HOUR, "RUN"),
            (HOUR + 90, "ERROR", "authorization_error"),
        ],
        authinfo="Old-Code-1111",
        right_authinfo=GANDI_NEW_AUTHINFO,
    )
    story.opensrs = stage.sim("opensrs").add_order(
        OPENSRS_DOMAIN, script="bad_auth", age=70 * MINUTE, resubmit_script="quick"
    )  # the registry cancels it in an hour: the losing registrar refused the auth code
    story.gandi_v5 = stage.sim("gandi_v5").add_transfer(
        GANDI_V5_DOMAIN, story="foa_pending", age=20 * MINUTE, answer_after_resend=2 * MINUTE
    )  # the owner never saw the approval e-mail; answers two minutes after it is resent
    return story


async def watch_all(stage: Stage, story: Story) -> None:
    stage.scene(1, "Alice starts watching a transfer at each provider")
    for provider, ref in story.refs():
        await stage.command(f"watch {stage.account(provider)} {ref}")
        story.short.setdefault(provider, (await stage.row(provider, ref)).short_id)
        await stage.pause(0.5)
    await stage.command("list")


async def hostway_blocks(stage: Stage, story: Story) -> None:
    stage.scene(2, "Two Hostway transfers get stuck, and the channel is told")
    await stage.later(25 * MINUTE, "25 minutes later: the watcher polls")
    row = await stage.expect_phase("hostway", story.hostway, "blocked")
    if row.raw_code != "32":
        raise DemoFailed(f"the Hostway transfer is blocked on {row.raw_code}, not 32")
    await stage.expect_phase("hostway", story.ignored, "blocked")


async def hostway_retry(stage: Stage, story: Story) -> None:
    stage.scene(3, "Alice asks to retry it with a new authInfo; Bob approves; it runs")
    thread = stage.thread_about(HOSTWAY_DOMAIN)
    await stage.click(RESET, stage.with_button(RESET, thread), user=ALICE)
    await stage.fill_in({"authInfo": NEW_AUTH_INFO})
    await stage.pause()
    request = stage.newest(ALERTS)
    await stage.click("Approve", request, user=BOB)
    if stage.sim("hostway").transfers[HOSTWAY_DOMAIN].auth_info != NEW_AUTH_INFO:
        raise DemoFailed("Hostway did not receive the new authInfo")
    await stage.later(10 * MINUTE, "10 minutes later: the transfer moves again")
    await stage.expect_phase("hostway", story.hostway, "active")


async def cpanel_pause_resume(stage: Stage, story: Story) -> None:
    stage.scene(4, "Alice pauses a cPanel account transfer for maintenance, then resumes it")
    short = story.short["cpanel"]
    await stage.command(f"pause {short}")
    await stage.later(2 * MINUTE, "2 minutes later: the accounts in progress have finished")
    await stage.expect_phase("cpanel", story.cpanel, "paused")
    await stage.command(f"status {short}")
    await stage.pause()
    await stage.command(f"resume {short}")
    await stage.expect_phase("cpanel", story.cpanel, "active")


async def gandi_relaunch(stage: Stage, story: Story) -> None:
    stage.scene(5, "A Gandi operation fails on its authinfo; Alice relaunches it, Bob approves")
    await stage.later(HOUR, "an hour later: Gandi's operation errors, OpenSRS's order is cancelled")
    await stage.expect_phase("gandi", story.gandi, "blocked")
    await stage.command(f"relaunch {story.short['gandi']}")
    await stage.fill_in({"authinfo": GANDI_NEW_AUTHINFO})
    await stage.click("Approve", stage.newest(OPS), user=BOB)
    await stage.expect_phase("gandi", story.gandi, "active")


async def opensrs_resubmit(stage: Stage, story: Story) -> None:
    stage.scene(6, "The cancelled OpenSRS order is resubmitted; the bot follows the new order")
    await stage.expect_phase("opensrs", story.opensrs, "blocked")
    await stage.command(f"resubmit {story.short['opensrs']}")
    await stage.click("Approve", stage.newest(OPS), user=BOB)
    new_order = stage.sim("opensrs").orders[story.opensrs].superseded_by
    if new_order is None:
        raise DemoFailed("OpenSRS made no new order")
    story.opensrs_new = new_order
    new = await stage.row("opensrs", new_order)
    story.short["opensrs-new"] = new.short_id
    await stage.command(f"status {new.short_id}")


async def gandi_v5_resend(stage: Stage, story: Story) -> None:
    stage.scene(7, "A Gandi v5 transfer waits on its owner's e-mail; Alice resends it from Slack")
    short = story.short["gandi_v5"]
    await stage.expect_phase("gandi_v5", story.gandi_v5, "pending")
    await stage.command(f"status {short}")  # the card: who the FOA went to, not answered yet
    await stage.pause()
    await stage.command(f"foa {short}")  # resend the FOA e-mail: runs at once, no approval
    if stage.sim("gandi_v5").transfers[GANDI_V5_DOMAIN].foas[0].sent != 2:
        raise DemoFailed("Gandi v5 did not send the approval e-mail again")
    await stage.later(5 * MINUTE, "5 minutes later: the owner has approved the e-mail")
    await stage.command(f"status {short}")  # Alice looks: approved, and the transfer runs
    await stage.expect_phase("gandi_v5", story.gandi_v5, "active")


async def ignored_escalated(stage: Stage, story: Story) -> None:
    stage.scene(8, "Nobody acts on the other stuck transfer: a reminder, then @triage is paged")
    await stage.later(HOUR, "an hour later: it has been stuck over 2 hours, untouched")
    thread = stage.thread_about(IGNORED_DOMAIN)
    if not any(reply.text.startswith("Reminder") for reply in thread.replies):
        raise DemoFailed(f"no reminder about {IGNORED_DOMAIN} was posted in its thread")
    await stage.later(4 * HOUR, "four hours later: still nobody has taken it on")
    thread = stage.thread_about(IGNORED_DOMAIN)
    escalations = [r for r in thread.replies if r.text.startswith("Escalation")]
    if not escalations or f"<!subteam^{TRIAGE}>" not in str(escalations[-1].blocks):
        raise DemoFailed(f"the escalation of {IGNORED_DOMAIN} did not page the triage group")
    await stage.pause()
    await stage.click("I'll take it", escalations[-1], user=ALICE)
    row = await stage.row("hostway", story.ignored)
    if row.owner_id != ALICE:
        raise DemoFailed(f"{IGNORED_DOMAIN} is not Alice's after she took it")
    stage.say("\n  (the registry has unlocked the domain; Alice retries the transfer)")
    await stage.click(RESET, stage.with_button(RESET, stage.thread_about(IGNORED_DOMAIN)),
                      user=ALICE)  # fmt: skip
    await stage.fill_in({})
    await stage.click("Approve", stage.newest(ALERTS), user=BOB)
    await stage.later(10 * MINUTE, "10 minutes later: it moves again; nobody is reminded")
    await stage.expect_phase("hostway", story.ignored, "active")


async def all_finish(stage: Stage, story: Story) -> None:
    stage.scene(9, "Three days on, every transfer has finished, each told in its own thread")
    await stage.later(3 * DAY, "three days later")
    for provider, ref in story.refs():
        await stage.expect_phase(provider, ref, "completed")
    await stage.command("list")


SCENES = (watch_all, hostway_blocks, hostway_retry, cpanel_pause_resume, gandi_relaunch,
          opensrs_resubmit, gandi_v5_resend, ignored_escalated, all_finish)  # fmt: skip


async def play(stage: Stage) -> Story:
    """Play every scene; DemoFailed says which step went wrong."""
    story = place_transfers(stage)
    for scene in SCENES:
        await scene(stage, story)
        await stage.pause()
    return story


async def summary(stage: Stage, story: Story, seconds: float) -> list[str]:
    """What happened, counted from the database and the stand-in's records."""
    async with stage.services.db.session() as session:
        requests = await list_requests(session, limit=1000)
        kinds = await count_alerts_by_kind(session)
    done = [r for r in requests if r.state == RequestState.DONE.value]
    approved = [r for r in done if r.decided_by not in (None, r.requested_by)]
    kinds.pop(HEADER, None)  # keeping a thread's first message current is not an alert
    calls = Counter(c.method for c in stage.standin.calls)
    threads = sum(
        1
        for m in stage.standin.channel(ALERTS)
        if stage.standin.metadata.get(m.ts, {}).get("event_type") == "transferbot_thread"
    )
    finished = [await stage.row(provider, ref) for provider, ref in story.refs()]
    polls = sum(sum(sim.faults.calls.values()) for sim in stage.providers.sims.values())
    return [
        "",
        "━━ The story is complete " + "━" * 55,
        f"  {len(finished)} transfers watched at {len({p.split('_')[0] for p, _ in story.refs()})} "
        "providers, finished: " + ", ".join(f"{row.subject} {row.phase}" for row in finished),
        f"  alerts: {', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))}; "
        f"{threads} threads in #{CHANNELS[ALERTS]}, one per transfer",
        f"  actions: {len(approved)} approved by a second person, "
        f"{len(done) - len(approved)} run at once; {polls} provider calls",
        f"  Slack: {calls['chat.postMessage']} messages posted, {calls['chat.update']} updated "
        f"in place, {calls['views.open']} forms opened",
        f"  Took {seconds:.1f} s.",
    ]


async def _run(out: TextIO, speed: float, keep: bool, socket_mode: bool = False) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="transferbot-demo-") as workdir:
        async with open_stage(
            Path(workdir), out=out, pause_seconds=1.2 / speed, socket_mode=socket_mode
        ) as stage:
            _intro(stage)
            try:
                story = await play(stage)
            except DemoFailed as exc:
                print(f"\ntransferbot demo: the story stopped: {exc}", file=sys.stderr)
                return 1
            for line in await summary(stage, story, time.monotonic() - started):
                stage.say(line)
            if keep:
                await _keep_running(stage)
    return 0


def _intro(stage: Stage) -> None:
    stage.say("transferbot demo — everything runs on this machine:")
    for provider, account in stage.providers.accounts.items():
        stage.say(f"  {provider:8} simulator  {account.base_url}  (account {account.name})")
    stage.say(f"  Slack        stand-in   {stage.standin.base_url}/api/  (prints the channels)")
    if stage.socket is not None:
        stage.say(f"  bot          Socket Mode  over the stand-in's link; {stage.bot_url}/healthz")
    else:
        stage.say(f"  bot          HTTP mode  {stage.bot_url}/slack/events, /healthz, /metrics")
    stage.say("  people: @alice (operator), @bob (approver)")


async def _keep_running(stage: Stage) -> None:
    stage.clock.set_speed(1.0)
    with stop_signals() as stop:
        stage.say(
            f"\nStill running (--keep): try  curl {stage.bot_url}/healthz  or  "
            f"curl {stage.bot_url}/metrics ; the database is {stage.db_path}. Ctrl-C stops it."
        )
        await stop.wait()


def run_demo(
    *,
    speed: float = 1.0,
    keep: bool = False,
    out: TextIO | None = None,
    socket_mode: bool = False,
) -> int:
    """Play the demo; 0 when the story completes, 1 (reason on stderr) when it doesn't.
    ``socket_mode``: the bot answers over the stand-in's WebSocket link, not HTTP."""
    try:
        return asyncio.run(_run(out or sys.stdout, speed, keep, socket_mode))
    except KeyboardInterrupt:
        return 0
