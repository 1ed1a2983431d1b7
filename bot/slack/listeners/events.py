"""Events: the App Home tab, published when someone opens it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.models.views import View

from bot.slack.blocks import section
from bot.slack.home import app_home
from bot.slack.permissions import Roster, not_an_operator
from bot.tracking import home_rows

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["publish_home", "register_events"]

logger = logging.getLogger(__name__)


def register_events(app: AsyncApp, *, home_tab: bool) -> None:
    if home_tab:
        app.event("app_home_opened")(on_home_opened)


async def on_home_opened(event: dict[str, Any], services: Services, roster: Roster) -> None:
    """Bolt has acknowledged the event already; the view is built after it."""
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    services.spawn(publish_home(services, roster, str(event["user"])), name="publish-home")


async def publish_home(services: Services, roster: Roster, user_id: str) -> None:
    """Show ``user_id`` the tracked transfers (or, to someone not on the team, why not)."""
    roles = await roster.roles_of(user_id)
    if roles.member:
        view = app_home(await home_rows(services))
    else:
        text = not_an_operator(services.settings.slack.command)
        view = View(type="home", blocks=[section(text)]).to_dict()
    await services.calls.answer("views.publish", user_id=user_id, view=view)
