"""Loading the configuration: the TOML file read, secrets resolved from the environment,
every problem collected as one line naming the file and the key."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.config_file import ConfigFileError, read_config_file
from bot.settings.describing import describe_error, key_path, printable, suggest
from bot.settings.rules import FollowupSettings, RouteRule
from bot.settings.sections import SECTIONS, Settings, SlackSettings
from bot.settings.values import (
    CONFIG_PATH_ENV,
    DEFAULT_CONFIG_PATH,
    MIN_SECRET_KEY_LENGTH,
    ConfigError,
    checked_database_url,
)
from providers.registry import PROVIDER_TYPES, descriptor_of
from providers.settings import ProviderAccount

logger = logging.getLogger(__name__)

# -- loading -------------------------------------------------------------------------------

# resolved from the environment, never written in the file: field -> the key naming its variable
_RESOLVED = {
    "slack": {
        "bot_token": "bot_token_env",
        "signing_secret": "signing_secret_env",
        "app_token": "app_token_env",
    },
    "security": {"secret_key": "secret_key_env"},
    "accounts": {"secret": "secret_env"},
}


def config_path(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The file to read: ``path``, else $TRANSFERBOT_CONFIG, else ./transferbot.toml."""
    env = os.environ if environ is None else environ
    if path is not None and str(path):
        return Path(path)
    return Path(env[CONFIG_PATH_ENV]) if env.get(CONFIG_PATH_ENV) else DEFAULT_CONFIG_PATH


def load_settings(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file, resolve secrets from ``environ`` and validate everything.

    Args:
        path: the configuration file; None means $TRANSFERBOT_CONFIG or ./transferbot.toml.
        environ: where secrets are read from; None means ``os.environ``.

    Raises:
        ConfigError: with one line per problem, each naming the file and the key.
    """
    env = os.environ if environ is None else environ
    file = config_path(path, env)
    reader = _ConfigReader(str(file), env)
    raw = reader.read_toml(file)
    settings = reader.resolve(raw)
    if reader.problems or settings is None:
        raise ConfigError(reader.problems)
    logger.debug("configuration read from %s", file)
    return settings


class _ConfigReader:
    """Turns one parsed file into Settings, collecting every problem on the way."""

    def __init__(self, label: str, environ: Mapping[str, str]) -> None:
        self.label = label
        self.environ = environ
        self.problems: list[str] = []

    def report(self, key: str, message: str) -> None:
        self.problems.append(
            f"{self.label}: {key}: {message}" if key else f"{self.label}: {message}"
        )

    def read_toml(self, file: Path) -> dict[str, Any]:
        hint = f"give --config PATH or set {CONFIG_PATH_ENV}"
        try:
            return read_config_file(file, missing_hint=hint)
        except ConfigFileError as exc:
            raise ConfigError([f"{self.label}: {exc}"]) from None

    def resolve(self, raw: dict[str, Any]) -> Settings | None:
        sections: dict[str, Any] = {}
        for key in raw:
            if key not in SECTIONS and key not in ("accounts", "routes"):
                known = [*SECTIONS, "accounts", "routes"]
                self.report(key, "unknown section" + suggest(key, known))
        for name, model in SECTIONS.items():
            table = raw.get(name, {})
            if not isinstance(table, dict):
                self.report(name, f"must be a table ([{name}])")
                continue
            sections[name] = self.validate(model, self.with_secrets(name, table), name)
        accounts = self.resolve_accounts(raw.get("accounts", []))
        routes = self.resolve_routes(raw.get("routes", []), sections.get("slack"))
        self.check_route_policies(routes, sections.get("followups"))
        if self.problems:
            return None
        return Settings(source=self.label, accounts=accounts, routes=routes, **sections)

    def resolve_routes(self, items: object, slack: SlackSettings | None) -> tuple[RouteRule, ...]:
        if not isinstance(items, list):
            self.report("routes", "must be a list of [[routes]] tables")
            return ()
        routes: list[RouteRule] = []
        for index, item in enumerate(items):
            key = f"routes[{index}]"
            if not isinstance(item, dict):
                self.report(key, "must be a table ([[routes]])")
                continue
            rule: RouteRule | None = self.validate(RouteRule, item, key)
            if rule is not None:
                routes.append(rule)
        if items and slack is not None and slack.alert_channel is None:
            self.report(
                "slack.alert_channel",
                "routes need a default channel for the alerts no rule matches, outages and "
                "the digest; set slack.alert_channel",
            )
        return tuple(routes)

    def check_route_policies(
        self, routes: tuple[RouteRule, ...], followups: FollowupSettings | None
    ) -> None:
        """A rule's ``policy`` must name one of ``followups.policies``."""
        if followups is None:
            return
        for index, rule in enumerate(routes):
            if rule.policy is not None and rule.policy not in followups.policies:
                known = ", ".join(followups.policies)
                self.report(
                    f"routes[{index}].policy",
                    f"no policy {rule.policy!r} in followups.policies ({known})"
                    + suggest(rule.policy, list(followups.policies)),
                )

    def with_secrets(self, section: str, table: dict[str, Any]) -> dict[str, Any]:
        data = dict(table)
        for field, env_key in _RESOLVED.get(section, {}).items():
            if field in data:
                self.report(
                    f"{section}.{field}",
                    f"secrets don't go in the file; put it in a variable named by {env_key}",
                )
                del data[field]
            model = SECTIONS[section]
            variable = data.get(env_key, model.model_fields[env_key].default)
            value = self.secret_in(variable, f"{section}.{env_key}", _WHAT_GOES_IN[field])
            if value:
                data[field] = value
        if section == "database":
            self.resolve_database_url(data)
        key = data.get("secret_key") if section == "security" else None
        if key and len(key.strip()) < MIN_SECRET_KEY_LENGTH:  # storage strips it too
            self.report(
                "security.secret_key_env",
                f"the key in {data.get('secret_key_env', 'TRANSFERBOT_SECRET_KEY')} is too "
                f"short; use at least {MIN_SECRET_KEY_LENGTH} random characters",
            )
        return data

    def secret_in(self, variable: object, setting: str, what: str) -> str | None:
        """The variable's value; None when unset or empty; blank space is reported."""
        value = self.environ.get(variable) if isinstance(variable, str) else None
        if value and not value.strip():
            self.report(
                setting, f"variable {printable(str(variable))} holds only blank space; {what}"
            )
            return None
        return value or None

    def resolve_database_url(self, data: dict[str, Any]) -> None:
        variable = data.get("url_env")
        if not isinstance(variable, str):
            return
        if "url" in data:
            self.report("database.url_env", "set either database.url or database.url_env")
        elif self.environ.get(variable):
            try:
                data["url"] = checked_database_url(self.environ[variable])
            except ValueError as exc:
                self.report("database.url_env", f"the URL in {variable} {exc}")
        else:
            self.report("database.url_env", f"variable {printable(variable)} is not set")

    def resolve_accounts(self, items: object) -> tuple[ProviderAccount, ...]:
        if not isinstance(items, list):
            self.report("accounts", "must be a list of [[accounts]] tables")
            return ()
        accounts: list[ProviderAccount] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            key = f"accounts[{index}]"
            if not isinstance(item, dict):
                self.report(key, "must be a table ([[accounts]])")
                continue
            account = self.resolve_account(item, key)
            name = item.get("name")
            if isinstance(name, str) and name in seen:
                self.report(
                    f"{key}.name",
                    f"duplicate account name {name!r} (also accounts[{seen[name]}])",
                )
            elif isinstance(name, str):
                seen[name] = index
            if account is not None:
                accounts.append(account)
        return tuple(accounts)

    def resolve_account(self, item: dict[str, Any], key: str) -> ProviderAccount | None:
        data = dict(item)
        if "secret" in data:
            self.report(
                f"{key}.secret", "secrets don't go in the file; name a variable in secret_env"
            )
            del data["secret"]
        variable = data.get("secret_env")
        if isinstance(variable, str) and variable:
            value = self.secret_in(variable, f"{key}.secret_env", _WHAT_GOES_IN["secret"])
            if value:
                data["secret"] = value
            elif not self.environ.get(variable):  # blank space was reported by secret_in
                self.report(f"{key}.secret_env", f"variable {printable(variable)} is not set")
        kind = data.get("type")
        if isinstance(kind, str) and kind in PROVIDER_TYPES:  # what its descriptor needs
            descriptor = descriptor_of(kind)
            for setting, problem in descriptor.missing_settings(data):
                self.report(f"{key}.{setting}", problem)
            if data.get("events") is True and not descriptor.capabilities.change_feed:
                self.report(
                    f"{key}.events",
                    f"{descriptor.label} offers no change feed; remove events or set it to false",
                )
        account: ProviderAccount | None = self.validate(ProviderAccount, data, key)
        return account

    def validate(self, model: type[BaseModel], data: dict[str, Any], prefix: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = key_path(prefix, error["loc"])
                self.report(loc, describe_error(model, error))
            return None


_WHAT_GOES_IN = {
    "bot_token": "put the bot token (xoxb-…) in it",
    "signing_secret": "put the app's signing secret in it",
    "app_token": "put the app-level token (xapp-…) in it, or unset it for HTTP mode",
    "secret_key": "put the key in it",
    "secret": "put the account's API token or key in it",
}
