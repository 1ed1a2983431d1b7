"""Bolt listeners, one module per Slack surface: commands, buttons, views (modals), events."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.settings import SlackSettings
from bot.slack.listeners.buttons import register_buttons
from bot.slack.listeners.commands import register_commands
from bot.slack.listeners.events import register_events
from bot.slack.listeners.views import register_views

__all__ = ["register_listeners"]


def register_listeners(app: AsyncApp, settings: SlackSettings) -> None:
    """Attach every listener of the bot to ``app``."""
    register_commands(app, settings.command)
    register_buttons(app)
    register_views(app)
    register_events(app, home_tab=settings.home_tab)
