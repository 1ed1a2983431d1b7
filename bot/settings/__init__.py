"""The bot's configuration: one TOML file plus environment variables for secrets, resolved here.

``values`` holds the value types keys are read as, ``sections`` and ``rules`` the model of
each table (``Settings`` is the whole), ``loading`` reads the file and resolves secrets,
collecting every problem, and ``describing`` words those problems. Import from here.
"""

from __future__ import annotations

from bot.settings.loading import config_path, load_settings
from bot.settings.rules import EscalationLevel, FollowupPolicy, FollowupSettings, RouteRule
from bot.settings.sections import (
    DatabaseSettings,
    SecuritySettings,
    ServerSettings,
    Settings,
    SlackSettings,
    WatcherSettings,
)
from bot.settings.values import (
    CONFIG_PATH_ENV,
    DEFAULT_CONFIG_PATH,
    DEFAULT_DATABASE_URL,
    ConfigError,
    mask_database_url,
    parse_duration,
)

__all__ = [
    "CONFIG_PATH_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DATABASE_URL",
    "ConfigError",
    "DatabaseSettings",
    "EscalationLevel",
    "FollowupPolicy",
    "FollowupSettings",
    "RouteRule",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SlackSettings",
    "WatcherSettings",
    "config_path",
    "load_settings",
    "mask_database_url",
    "parse_duration",
]
