"""A [[routes]] rule's policy picks how its transfers are followed up: a customer's
domains on a tighter policy than the default, end to end on a stepped clock."""

from __future__ import annotations

import pytest

from bot.runtime.slack_messages import PostedMessage
from bot.settings import FollowupSettings, RouteRule
from storage.models import TrackedTransfer
from tests.watcher.conftest import CHANNEL, Rig
from tests.watcher.test_reminders import blocked_now

URGENT = "C0URGENT"
MINUTE = 60.0


@pytest.fixture
def routes() -> tuple[RouteRule, ...]:
    rule = {"channel": URGENT, "subject": r"\.vip$", "policy": "vip"}
    return (RouteRule.model_validate(rule),)


@pytest.fixture
def followup_config() -> FollowupSettings:
    """The default reminds after 4 h; the "vip" policy after 1 h, then every hour."""
    return FollowupSettings.model_validate(
        {
            "policies": {
                "default": {"remind_after": "4h", "remind_every": "4h", "escalations": []},
                "vip": {"remind_after": "1h", "remind_every": "1h", "escalations": []},
            },
        }
    )


def reminders(rig: Rig, channel: str, row: TrackedTransfer) -> list[PostedMessage]:
    """The reminders in the thread of ``row`` in ``channel``."""
    for message in rig.standin.channel(channel):
        payload = rig.standin.metadata.get(message.ts, {}).get("event_payload") or {}
        if payload.get("transfer_id") == row.id:
            return [m for m in message.replies if m.text.startswith("Reminder")]
    return []


async def test_a_routed_transfer_is_reminded_on_its_rules_policy(rig: Rig) -> None:
    vip = await blocked_now(rig, "shop.vip", [(0, 32)])
    plain = await blocked_now(rig, "shop.example", [(0, 32)])
    counts = []
    for _ in range(27):  # 4.5 hours, 10 minutes a step
        await rig.step(10 * MINUTE, remind=True)
        counts.append((len(reminders(rig, URGENT, vip)), len(reminders(rig, CHANNEL, plain))))

    hourly = [counts[i] for i in (5, 11, 17, 23, 26)]  # at 1 h, 2 h, 3 h, 4 h, 4.5 h
    assert hourly == [(1, 0), (2, 0), (3, 0), (4, 1), (4, 1)]
    assert reminders(rig, CHANNEL, vip) == []  # its thread is in the routed channel only
