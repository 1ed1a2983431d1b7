"""The bot's configuration: one TOML file plus environment variables for secrets, resolved here."""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from bot.config_file import ConfigFileError, read_config_file
from providers.base import Action, parse_action
from providers.registry import PROVIDER_TYPES, descriptor_of
from providers.settings import Integer, Number, ProviderAccount, checked_http_url

__all__ = [
    "CONFIG_PATH_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DATABASE_URL",
    "ConfigError",
    "DatabaseSettings",
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

logger = logging.getLogger(__name__)

CONFIG_PATH_ENV = "TRANSFERBOT_CONFIG"
DEFAULT_CONFIG_PATH = Path("transferbot.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./transferbot.sqlite3"
MIN_SECRET_KEY_LENGTH = 16  # storage accepts a Fernet key or a passphrase this long

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(Exception):
    """The configuration can't be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# -- value types ---------------------------------------------------------------------------


def _matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


EnvName = Annotated[str, _matching(r"^[A-Za-z_][A-Za-z0-9_]*$", "an environment variable name")]
UserId = Annotated[str, _matching(r"^[UW][A-Z0-9]{2,}$", "a Slack user id (U… or W…)")]
GroupId = Annotated[str, _matching(r"^S[A-Z0-9]{2,}$", "a Slack user-group id (S…)")]
ChannelId = Annotated[str, _matching(r"^[CG][A-Z0-9]{2,}$", "a Slack channel id (C… or G…)")]


MAX_DURATION = timedelta(days=3650)  # ten years: longer is a typo, and overflows timedelta


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '2h', '3d', '1w', '1h30m' or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        parts = _DURATION_PART.findall(text)
        if not parts or _DURATION_PART.sub("", text).strip():
            raise ValueError(f"{value!r} is not a duration like '90s', '15m', '2h' or '3d'")
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    else:
        raise ValueError("must be a duration like '90s', '15m', '2h' or '3d'")
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    if not seconds <= MAX_DURATION.total_seconds():  # also refuses NaN and infinity
        raise ValueError(f"must be at most {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _stall_key(key: str) -> str:
    provider, sep, status = key.partition(":")
    if key != "default" and (not sep or not status.strip()):
        raise ValueError("must be 'default' or 'provider:status'")
    if sep and provider not in PROVIDER_TYPES:
        raise ValueError(f"{provider!r} is not a provider type ({', '.join(PROVIDER_TYPES)})")
    return key if key == "default" else f"{provider}:{status.strip()}"


StallKey = Annotated[str, AfterValidator(_stall_key)]


def _http_url(value: str) -> str:
    checked = checked_http_url(
        value, credentials="Slack's Web API takes none: give its address alone"
    )
    return checked.rstrip("/") + "/"


def _database_url(value: str) -> str:
    """Storage's reading of the URL (``storage.database.database_url``), host and port checked.

    Never echoes the URL: it may hold a password.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from storage.database import database_url  # lazy: storage loads alembic (0.2 s)
    from storage.errors import DatabaseUnavailable  # lazy: as above

    scheme, sep, _ = value.partition("://")
    if not sep or not scheme:
        raise ValueError(f"is not a database URL; use {_DATABASE_URL_FORMS}")
    try:
        parsed = make_url(value)
    except ValueError:  # int() of the port
        raise ValueError(_BAD_PORT) from None
    except ArgumentError:
        raise ValueError(f"is not a valid database URL; use {_DATABASE_URL_FORMS}") from None
    try:
        url = database_url(parsed)
    except DatabaseUnavailable:  # it parsed, so storage refuses the driver
        raise ValueError(
            f"uses driver {scheme!r}, which is not supported; use sqlite+aiosqlite or "
            "postgresql+psycopg"
        ) from None
    if url.get_backend_name() != "sqlite":
        if url.host and "@" in url.host:  # the password's own '@' ended it early
            raise ValueError(
                "has an '@' after the one before the host; write an '@' in the user name or "
                "password as %40"
            )
        if url.port is not None and not 1 <= url.port <= 65535:
            raise ValueError(_BAD_PORT)
        if not url.host and "host" not in url.query:
            raise ValueError(
                "has no host; use postgresql+psycopg://USER:PASSWORD@HOST/DB (or ?host=/socket/dir)"
            )
    return f"{url.drivername}://{value.partition('://')[2]}"  # as written, but the driver


_DATABASE_URL_FORMS = "sqlite+aiosqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB"
_BAD_PORT = "has a bad port; use a number from 1 to 65535"


def mask_database_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.partition("://")[0] + "://***"


# -- sections ------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _secret(description: str) -> Any:
    return Field(default=None, exclude=True, repr=False, description=description)


class SlackSettings(_Section):
    """[slack]: the Slack app, who may act, and which actions need a second person."""

    bot_token_env: EnvName = "SLACK_BOT_TOKEN"
    signing_secret_env: EnvName = "SLACK_SIGNING_SECRET"
    app_token_env: EnvName = "SLACK_APP_TOKEN"
    api_base_url: Annotated[str, AfterValidator(_http_url)] = "https://slack.com/api/"
    alert_channel: ChannelId | None = None
    command: Annotated[
        str, _matching(r"^/[a-z0-9_-]{1,31}$", "a slash command like '/transfer'")
    ] = "/transfer"
    operators: tuple[UserId, ...] = ()
    approvers: tuple[UserId, ...] = ()
    operator_groups: tuple[GroupId, ...] = ()
    approver_groups: tuple[GroupId, ...] = ()
    approval_required: tuple[Action, ...] = (Action.CANCEL, Action.RETRY)
    request_expiry_minutes: Integer = Field(default=60, ge=1, le=7 * 24 * 60)
    dry_run: bool = False
    home_tab: bool = True
    bot_token: SecretStr | None = _secret("Resolved from bot_token_env.")
    signing_secret: SecretStr | None = _secret("Resolved from signing_secret_env.")
    app_token: SecretStr | None = _secret("Resolved from app_token_env; set = Socket Mode.")

    @field_validator("approval_required", mode="before")
    @classmethod
    def _known_actions(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        actions: list[Action] = []
        for word in value:
            action = parse_action(word) if isinstance(word, str) else None
            if action is None:
                choices = ", ".join(a.value for a in Action)
                raise ValueError(f"unknown action {word!r}; choose from {choices}")
            if action not in actions:
                actions.append(action)
        return tuple(a for a in Action if a in actions)

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    def needs_approval(self, action: Action) -> bool:
        return action in self.approval_required


class DatabaseSettings(_Section):
    """[database]: where the bot keeps its state; the URL is masked in dumps and reprs."""

    url: Annotated[str, AfterValidator(_database_url)] = Field(
        default=DEFAULT_DATABASE_URL, repr=False
    )
    url_env: EnvName | None = None

    @field_serializer("url")
    def _masked(self, url: str) -> str:
        return mask_database_url(url)

    @property
    def masked_url(self) -> str:
        return mask_database_url(self.url)

    @property
    def password(self) -> str | None:
        from sqlalchemy.engine import make_url

        return make_url(self.url).password

    def __repr_args__(self) -> Any:
        yield "url", self.masked_url
        yield "url_env", self.url_env


class SecuritySettings(_Section):
    """[security]: the key that encrypts secrets at rest (e.g. a pending action's authInfo)."""

    secret_key_env: EnvName = "TRANSFERBOT_SECRET_KEY"
    secret_key: SecretStr | None = _secret("Resolved from secret_key_env.")


class WatcherSettings(_Section):
    """[watcher]: how often transfers are polled and when one counts as stuck."""

    tick_seconds: Number = Field(default=5, gt=0, le=300)
    min_interval_seconds: Integer = Field(default=15, ge=1)
    max_interval_seconds: Integer = Field(default=21600, ge=1, le=30 * 86400)
    max_detection_delay_seconds: Integer = Field(default=3600, ge=1)
    jitter: Number = Field(default=0.1, ge=0, le=0.5)
    batch_size: Integer = Field(default=200, ge=1, le=10_000)
    lease_seconds: Integer = Field(default=120, ge=10, le=3600)
    sync_interval_minutes: Integer = Field(default=15, ge=0, le=7 * 24 * 60)
    stall_after: dict[StallKey, Duration] = Field(
        default_factory=lambda: {"default": timedelta(days=7)}
    )
    outage_after_failures: Integer = Field(default=3, ge=1, le=1000)
    digest_time: time | None = None

    @field_validator("stall_after")
    @classmethod
    def _with_default(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        return {"default": timedelta(days=7), **value}

    @field_validator("digest_time")
    @classmethod
    def _naive_utc(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("give the time as HH:MM in UTC, without an offset")
        return value

    @field_validator("max_interval_seconds")
    @classmethod
    def _not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_interval_seconds")
        if low is not None and value < low:
            raise ValueError(f"must be at least min_interval_seconds ({low})")
        return value

    @field_validator("max_detection_delay_seconds")
    @classmethod
    def _between_min_and_max(cls, value: int, info: ValidationInfo) -> int:
        low, high = info.data.get("min_interval_seconds"), info.data.get("max_interval_seconds")
        if low is not None and value < low:
            raise ValueError(f"must be at least min_interval_seconds ({low})")
        if high is not None and value > high:
            raise ValueError(f"must be at most max_interval_seconds ({high})")
        return value

    def stall_threshold(self, provider: str, raw_code: str) -> timedelta:
        """How long a transfer may sit in one provider status before it counts as stuck."""
        wanted = f"{provider}:{raw_code.strip()}".lower()
        matches = (after for key, after in self.stall_after.items() if key.lower() == wanted)
        return next(matches, self.stall_after["default"])


class ServerSettings(_Section):
    """[server]: the HTTP listener (Slack events in HTTP mode, health checks) and logging."""

    host: str = "0.0.0.0"  # noqa: S104 - a container listens on every interface
    port: Integer = Field(default=3000, ge=1, le=65535)
    log_level: Annotated[
        Literal["debug", "info", "warning", "error", "critical"],
        BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v),
    ] = "info"
    log_format: Literal["text", "json"] = "text"


class Settings(BaseModel):
    """Everything the bot needs, resolved: file values, defaults and secrets from variables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = Field(default=None, description="The file this was read from.")
    slack: SlackSettings = SlackSettings()
    database: DatabaseSettings = DatabaseSettings()
    security: SecuritySettings = SecuritySettings()
    watcher: WatcherSettings = WatcherSettings()
    server: ServerSettings = ServerSettings()
    accounts: tuple[ProviderAccount, ...] = ()

    def account(self, name: str) -> ProviderAccount | None:
        return next((a for a in self.accounts if a.name == name), None)

    def serve_problems(self) -> list[str]:
        """What is missing before ``serve`` can run (not needed to check or migrate)."""
        slack, label = self.slack, self.source or "settings"
        problems = []
        if slack.bot_token is None:
            problems.append(
                f"{label}: slack.bot_token_env: variable {slack.bot_token_env} is not set; "
                "the bot can't talk to Slack without its bot token"
            )
        if slack.signing_secret is None and not slack.socket_mode:
            problems.append(
                f"{label}: slack.signing_secret_env: variable {slack.signing_secret_env} is "
                f"not set; HTTP mode needs it (or set {slack.app_token_env} for Socket Mode)"
            )
        if self.security.secret_key is None:
            problems.append(
                f"{label}: security.secret_key_env: variable {self.security.secret_key_env} "
                "is not set; actions that take a secret (a new authInfo) can't be stored"
            )
        return problems

    def require_serve(self) -> None:
        """Raise ConfigError listing what ``serve`` still needs."""
        problems = self.serve_problems()
        if problems:
            raise ConfigError(problems)

    def warnings(self) -> list[str]:
        """Valid but probably not meant: shown by check-config, never fatal."""
        label, slack = self.source or "settings", self.slack
        notes = self.serve_problems()
        if slack.alert_channel is None:
            notes.append(f"{label}: slack.alert_channel: not set; no alerts will be posted")
        if not (slack.operators or slack.operator_groups):
            notes.append(f"{label}: slack.operators: nobody may act on transfers")
        if slack.approval_required and not (slack.approvers or slack.approver_groups):
            notes.append(
                f"{label}: slack.approvers: nobody may approve, so "
                f"{', '.join(slack.approval_required)} can never run"
            )
        if not self.accounts:
            notes.append(f"{label}: accounts: no provider accounts configured")
        return notes

    def secret_values(self) -> list[str]:
        """Every resolved secret, for the log masker; never print these."""
        values = [
            s.get_secret_value()
            for s in (
                self.slack.bot_token,
                self.slack.signing_secret,
                self.slack.app_token,
                self.security.secret_key,
                *(a.secret for a in self.accounts),
            )
            if s is not None
        ]
        values.append(self.database.password or "")
        return [v for v in values if v]


# -- loading -------------------------------------------------------------------------------

_SECTIONS: dict[str, type[_Section]] = {
    "slack": SlackSettings,
    "database": DatabaseSettings,
    "security": SecuritySettings,
    "watcher": WatcherSettings,
    "server": ServerSettings,
}
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
            if key not in _SECTIONS and key != "accounts":
                self.report(key, "unknown section" + _suggest(key, [*_SECTIONS, "accounts"]))
        for name, model in _SECTIONS.items():
            table = raw.get(name, {})
            if not isinstance(table, dict):
                self.report(name, f"must be a table ([{name}])")
                continue
            sections[name] = self.validate(model, self.with_secrets(name, table), name)
        accounts = self.resolve_accounts(raw.get("accounts", []))
        if self.problems:
            return None
        return Settings(source=self.label, accounts=accounts, **sections)

    def with_secrets(self, section: str, table: dict[str, Any]) -> dict[str, Any]:
        data = dict(table)
        for field, env_key in _RESOLVED.get(section, {}).items():
            if field in data:
                self.report(
                    f"{section}.{field}",
                    f"secrets don't go in the file; put it in a variable named by {env_key}",
                )
                del data[field]
            model = _SECTIONS[section]
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
                setting, f"variable {_printable(str(variable))} holds only blank space; {what}"
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
                data["url"] = _database_url(self.environ[variable])
            except ValueError as exc:
                self.report("database.url_env", f"the URL in {variable} {exc}")
        else:
            self.report("database.url_env", f"variable {_printable(variable)} is not set")

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
                self.report(f"{key}.secret_env", f"variable {_printable(variable)} is not set")
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
                loc = _key_path(prefix, error["loc"])
                self.report(loc, _message(model, error))
            return None


_WHAT_GOES_IN = {
    "bot_token": "put the bot token (xoxb-…) in it",
    "signing_secret": "put the app's signing secret in it",
    "app_token": "put the app-level token (xapp-…) in it, or unset it for HTTP mode",
    "secret_key": "put the key in it",
    "secret": "put the account's API token or key in it",
}


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


def _key_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            path += f".{part}"
        else:
            shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in part)
            path += f'."{shown}"'
    return path


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _message(model: type[BaseModel], error: Any) -> str:
    kind, loc, msg = error["type"], error["loc"], error["msg"]
    if kind == "extra_forbidden":
        known = [n for n, f in model.model_fields.items() if not f.exclude] if len(loc) == 1 else []
        return "unknown key" + _suggest(str(loc[-1]), known)
    if kind == "missing":
        return "is required"
    text = str(msg).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return text.replace("Input should be", "must be")
