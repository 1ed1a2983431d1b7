"""Who may do what: configured users, user groups read through the stand-in, and help's words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.standin import SlackStandIn
from bot.slack.permissions import Roles, Roster, allowed_words
from providers.base import Action
from tests.slack.conftest import (
    ALICE,
    APPROVERS_GROUP,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    OPERATORS_GROUP,
    TOKEN,
    slack_settings,
)


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn(
        token=TOKEN,
        user_groups={OPERATORS_GROUP: [CAROL], APPROVERS_GROUP: [CAROL, ERIN]},
    )
    async with stand_in.serve():
        yield stand_in


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def roster_for(standin: SlackStandIn, clock: Clock | None = None) -> Roster:
    client = AsyncWebClient(token=TOKEN, base_url=f"{standin.base_url}/api/")
    return Roster(slack_settings(), client, ttl_seconds=60, clock=clock or Clock())


def group_reads(standin: SlackStandIn) -> int:
    return len(standin.calls_to("usergroups.users.list"))


async def test_configured_users_and_group_members_get_their_roles(standin: SlackStandIn) -> None:
    roster = roster_for(standin)
    assert await roster.roles_of(ALICE) == Roles(ALICE, operator=True, approver=False)
    assert await roster.roles_of(BOB) == Roles(BOB, operator=False, approver=True)
    assert await roster.roles_of(CAROL) == Roles(CAROL, operator=True, approver=True)
    assert await roster.roles_of(ERIN) == Roles(ERIN, operator=False, approver=True)
    assert await roster.roles_of(DAVE) == Roles(DAVE)
    assert not (await roster.roles_of(DAVE)).member


async def test_group_members_are_cached_briefly(standin: SlackStandIn) -> None:
    clock = Clock()
    roster = roster_for(standin, clock)
    assert roster.known_roles(CAROL) is None  # not known without asking Slack
    await roster.roles_of(CAROL)
    reads = group_reads(standin)
    assert reads == 2  # the operators' group and the approvers' group
    assert roster.known_roles(CAROL) == Roles(CAROL, operator=True, approver=True)
    await roster.roles_of(DAVE)
    assert group_reads(standin) == reads
    standin.user_groups[OPERATORS_GROUP].append(DAVE)
    clock.now += 61
    assert roster.known_roles(DAVE) is None
    assert (await roster.roles_of(DAVE)).operator
    assert group_reads(standin) == reads + 2


async def test_concurrent_lookups_share_one_call_per_group(standin: SlackStandIn) -> None:
    roster = roster_for(standin)
    found = await asyncio.gather(*(roster.roles_of(user) for user in [CAROL, DAVE, ERIN] * 5))
    assert group_reads(standin) == 2
    assert sum(roles.operator for roles in found) == 5  # CAROL, five times


async def test_a_group_slack_will_not_read_refuses_and_is_asked_again(
    standin: SlackStandIn,
) -> None:
    roster = roster_for(standin)
    standin.fail("usergroups.users.list", "missing_scope", times=2)
    assert await roster.roles_of(CAROL) == Roles(CAROL)  # refused, not granted
    assert roster.known_roles(CAROL) is None  # a failure is not cached
    assert (await roster.roles_of(CAROL)).operator


def test_help_words_follow_roles_and_configured_providers() -> None:
    everything = set(Action)
    operator = allowed_words(Roles(ALICE, operator=True), actions=everything)
    assert {"watch", "unwatch", "sync", "pause", "resend"} <= set(operator)
    hostway_only = allowed_words(
        Roles(ALICE, operator=True), actions={Action.RETRY}, can_sync=False
    )
    assert "retry" in hostway_only
    assert not {"pause", "cancel", "sync"} & set(hostway_only)
    approver = allowed_words(Roles(BOB, approver=True), actions=everything)
    assert set(approver) == {"status", "history", "list", "help"}
    assert allowed_words(Roles(DAVE), actions=everything) == []
