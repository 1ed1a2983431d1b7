"""Who may do what: operators run commands and ask for actions, approvers decide requests."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import SlackSettings
from providers.base import Action

__all__ = [
    "GROUP_CACHE_SECONDS",
    "Roles",
    "Roster",
    "allowed_words",
    "not_an_approver",
    "not_an_operator",
]

logger = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 60.0  # how long a user group's members are trusted before asking again
READ_WORDS = ("status", "history", "list")
OPERATOR_WORDS = ("watch", "unwatch", "sync", "mine")


@dataclass(frozen=True, slots=True)
class Roles:
    """What one Slack user may do."""

    user_id: str
    operator: bool = False
    approver: bool = False

    @property
    def member(self) -> bool:
        """An operator or an approver: may at least look at transfers."""
        return self.operator or self.approver


def not_an_operator(command: str = "/transfer") -> str:
    return (
        f"Sorry, acting on transfers with `{command}` is for the transfer team's operators; "
        "ask whoever runs the bot to add you if you need it."
    )


def not_an_approver() -> str:
    return (
        "Sorry, only the configured approvers can decide action requests; "
        "ask one of them to look at it."
    )


def allowed_words(roles: Roles, *, actions: Iterable[Action], can_sync: bool = True) -> list[str]:
    """The ``/transfer`` sub-commands ``roles`` may use (help shows only these).

    Args:
        actions: the actions some configured provider account offers at all.
        can_sync: whether some configured account can list its transfers.
    """
    if not roles.member:
        return []
    words = [*READ_WORDS, "help"]
    if roles.operator:
        offered = set(actions)
        words += [w for w in OPERATOR_WORDS if w != "sync" or can_sync]
        words += [action.value for action in Action if action in offered]
    return words


@dataclass
class _Members:
    users: frozenset[str]
    fetched_at: float


class Roster:
    """The configured operators and approvers; user-group members are fetched and cached.

    Users named in the settings are known without any call. Membership of the configured
    user groups comes from ``usergroups.users.list``, kept for ``ttl_seconds`` (read
    afresh for every decision on a request);
    concurrent lookups of one group share a single call. A group that can't be read
    counts as empty (and is asked again next time), so a Slack hiccup refuses rather than
    grants.
    """

    def __init__(
        self,
        settings: SlackSettings,
        client: AsyncWebClient,
        *,
        ttl_seconds: float = GROUP_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._groups: dict[str, _Members] = {}
        self._lookups: dict[str, asyncio.Future[frozenset[str]]] = {}

    def known_roles(self, user_id: str) -> Roles | None:
        """The user's roles if they can be told without a Slack call, else None."""
        operator = self._decided(user_id, self.settings.operators, self.settings.operator_groups)
        approver = self._decided(user_id, self.settings.approvers, self.settings.approver_groups)
        if operator is None or approver is None:
            return None
        return Roles(user_id, operator=operator, approver=approver)

    async def roles_of(self, user_id: str, *, fresh: bool = False) -> Roles:
        """The user's roles, asking Slack for user-group members when the cache is cold, or
        always with ``fresh`` (a decision on a request: someone just removed from the
        approvers' group must not approve on the strength of a minute-old list)."""
        known = None if fresh else self.known_roles(user_id)
        if known is not None:
            return known
        if fresh:
            operator = await self._is_in(
                user_id, self.settings.operators, self.settings.operator_groups
            )
            approver = await self._is_in(
                user_id, self.settings.approvers, self.settings.approver_groups, fresh=True
            )
            return Roles(user_id, operator=operator, approver=approver)
        operator = await self._is_in(
            user_id, self.settings.operators, self.settings.operator_groups
        )
        approver = await self._is_in(
            user_id, self.settings.approvers, self.settings.approver_groups
        )
        return Roles(user_id, operator=operator, approver=approver)

    def forget(self) -> None:
        """Drop cached group members (tests, or after a configuration change)."""
        self._groups.clear()

    # -- internals ---------------------------------------------------------------------------
    def _decided(self, user_id: str, users: Iterable[str], groups: Iterable[str]) -> bool | None:
        if user_id in users:
            return True
        now = self._clock()
        for group in groups:
            cached = self._groups.get(group)
            if cached is None or now - cached.fetched_at > self.ttl_seconds:
                return None
            if user_id in cached.users:
                return True
        return False

    async def _is_in(
        self, user_id: str, users: Iterable[str], groups: Iterable[str], *, fresh: bool = False
    ) -> bool:
        if user_id in users:
            return True
        for group in groups:
            if user_id in await self._members(group, fresh=fresh):
                return True
        return False

    async def _members(self, group: str, *, fresh: bool = False) -> frozenset[str]:
        cached = self._groups.get(group)
        young = cached is not None and self._clock() - cached.fetched_at <= self.ttl_seconds
        if cached is not None and young and not fresh:
            return cached.users
        running = self._lookups.get(group)
        if running is None:
            running = asyncio.ensure_future(self._fetch(group))
            self._lookups[group] = running
            running.add_done_callback(lambda _: self._lookups.pop(group, None))
        return await asyncio.shield(running)

    async def _fetch(self, group: str) -> frozenset[str]:
        try:
            reply = await self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            logger.warning(
                "could not read user group %s: %s", group, exc.response.get("error", "error")
            )
            return frozenset()
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning("could not read user group %s: %s", group, type(exc).__name__)
            return frozenset()
        users = frozenset(str(u) for u in reply.get("users") or ())
        self._groups[group] = _Members(users, self._clock())
        return users
