"""check-config's look at Slack: is the bot in every channel alerts are routed to?

One ``conversations.info`` per channel: the conversation object it returns carries
``is_member``, true when the calling bot is in it (https://api.slack.com/types/conversations,
https://docs.slack.dev/reference/methods/conversations.info). ``users.conversations`` would
list the channels the bot is in instead, but it omits ``is_member``, needs paging through
every channel, and can't tell a channel the bot is not in from one that does not exist
(https://docs.slack.dev/reference/methods/users.conversations). Both need ``channels:read``
(``groups:read`` for private channels). A private channel the bot is not in answers
``channel_not_found`` like a wrong id (slackapi/bolt-js#1656), so that sentence names both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["ChannelCheck", "check_channels"]

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 10
_GIVE_UP = {  # errors that end the whole check: the answer would be the same for every channel
    "missing_scope": "the bot token lacks channels:read (groups:read for private channels); "
    "add the scopes (manifest.yml) and reinstall the app",
    "invalid_auth": "Slack refused the bot token (invalid_auth)",
    "not_authed": "Slack refused the bot token (not_authed)",
    "account_inactive": "the bot token belongs to a deactivated app or workspace",
    "token_revoked": "the bot token has been revoked",
}


@dataclass(frozen=True, slots=True)
class ChannelCheck:
    """What Slack said: a sentence per channel the bot can't post in, or why the check
    stopped (``skipped``) — never both for one channel."""

    checked: int
    problems: list[str]
    skipped: str | None = None


async def check_channels(client: AsyncWebClient, uses: Sequence[tuple[str, str]]) -> ChannelCheck:
    """Ask Slack about each channel; ``uses`` is (channel id, the setting that names it).

    A channel named by several settings is asked about once and reported under the first.
    """
    first: dict[str, str] = {}
    for channel, setting in uses:
        first.setdefault(channel, setting)
    problems: list[str] = []
    checked = 0
    for channel, setting in first.items():
        try:
            response = await client.conversations_info(channel=channel)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            if error in _GIVE_UP:
                return ChannelCheck(checked, problems, _GIVE_UP[error])
            problems.append(_refused(setting, channel, error))
            checked += 1
            continue
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.debug("conversations.info failed", exc_info=True)
            reason = type(exc).__name__
            return ChannelCheck(checked, problems, f"Slack did not answer ({reason})")
        checked += 1
        info = response.get("channel") or {}
        name = f"#{info['name']}" if isinstance(info.get("name"), str) else channel
        if info.get("is_archived"):
            problems.append(
                f"{setting}: channel {channel} ({name}) is archived; nothing can be posted in it"
            )
        elif not info.get("is_member"):
            problems.append(
                f"{setting}: the bot is not in channel {channel} ({name}); invite it there "
                "(/invite @transferbot) or its alerts can't be posted"
            )
    return ChannelCheck(checked, problems)


def _refused(setting: str, channel: str, error: str) -> str:
    if error == "channel_not_found":
        return (
            f"{setting}: Slack shows the bot no channel {channel}: the id is wrong, or the "
            "channel is private and the bot is not in it (invite it there)"
        )
    return f"{setting}: Slack would not say whether the bot is in channel {channel} ({error})"
