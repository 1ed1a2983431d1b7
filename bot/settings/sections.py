"""Configuration sections: one pydantic model per TOML table, and ``Settings``, the whole."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, time, timedelta, tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from bot.settings.rules import FollowupSettings, RouteRule
from bot.settings.values import (
    DEFAULT_DATABASE_URL,
    ChannelId,
    ConfigError,
    Duration,
    EnvName,
    GroupId,
    Section,
    StallKey,
    TimeZoneName,
    UserId,
    checked_database_url,
    mask_database_url,
    matching,
    secret_field,
    slack_api_url,
)
from providers.base import Action, parse_action
from providers.settings import Integer, Number, ProviderAccount, within_fields

logger = logging.getLogger(__name__)


class SlackSettings(Section):
    """[slack]: the Slack app, who may act, and which actions need a second person."""

    bot_token_env: EnvName = "SLACK_BOT_TOKEN"
    signing_secret_env: EnvName = "SLACK_SIGNING_SECRET"
    app_token_env: EnvName = "SLACK_APP_TOKEN"
    api_base_url: Annotated[str, AfterValidator(slack_api_url)] = "https://slack.com/api/"
    alert_channel: ChannelId | None = None
    command: Annotated[
        str, matching(r"^/[a-z0-9_-]{1,31}$", "a slash command like '/transfer'")
    ] = "/transfer"
    operators: tuple[UserId, ...] = ()
    approvers: tuple[UserId, ...] = ()
    operator_groups: tuple[GroupId, ...] = ()
    approver_groups: tuple[GroupId, ...] = ()
    approval_required: tuple[Action, ...] = (Action.CANCEL, Action.RETRY)
    request_expiry_minutes: Integer = Field(default=60, ge=1, le=7 * 24 * 60)
    dry_run: bool = False
    home_tab: bool = True
    bot_token: SecretStr | None = secret_field("Resolved from bot_token_env.")
    signing_secret: SecretStr | None = secret_field("Resolved from signing_secret_env.")
    app_token: SecretStr | None = secret_field("Resolved from app_token_env; set = Socket Mode.")

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


class DatabaseSettings(Section):
    """[database]: where the bot keeps its state; the URL is masked in dumps and reprs."""

    url: Annotated[str, AfterValidator(checked_database_url)] = Field(
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


class SecuritySettings(Section):
    """[security]: the key that encrypts secrets at rest (e.g. a pending action's authInfo)."""

    secret_key_env: EnvName = "TRANSFERBOT_SECRET_KEY"
    secret_key: SecretStr | None = secret_field("Resolved from secret_key_env.")


class WatcherSettings(Section):
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
    digest_timezone: TimeZoneName | None = None  # None: digest_time is UTC

    @field_validator("stall_after")
    @classmethod
    def _with_default(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        return {"default": timedelta(days=7), **value}

    @field_validator("digest_time")
    @classmethod
    def _naive(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError(
                "give the time as HH:MM, without an offset; name its zone in digest_timezone"
            )
        return value

    @property
    def digest_zone(self) -> tzinfo:
        """The zone ``digest_time`` is read in: ``digest_timezone``, else UTC."""
        return ZoneInfo(self.digest_timezone) if self.digest_timezone else UTC

    @field_validator("max_interval_seconds")
    @classmethod
    def _not_below_min(cls, value: int, info: ValidationInfo) -> int:
        return within_fields(value, info, at_least="min_interval_seconds")

    @field_validator("max_detection_delay_seconds")
    @classmethod
    def _between_min_and_max(cls, value: int, info: ValidationInfo) -> int:
        return within_fields(
            value, info, at_least="min_interval_seconds", at_most="max_interval_seconds"
        )

    def stall_threshold(self, provider: str, raw_code: str) -> timedelta:
        """How long a transfer may sit in one provider status before it counts as stuck."""
        wanted = f"{provider}:{raw_code.strip()}".lower()
        matches = (after for key, after in self.stall_after.items() if key.lower() == wanted)
        return next(matches, self.stall_after["default"])


class ServerSettings(Section):
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
    followups: FollowupSettings = FollowupSettings()
    server: ServerSettings = ServerSettings()
    accounts: tuple[ProviderAccount, ...] = ()
    routes: tuple[RouteRule, ...] = ()

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
        if self.watcher.digest_timezone and self.watcher.digest_time is None:
            notes.append(
                f"{label}: watcher.digest_timezone: set, but no digest_time, so no digest is posted"
            )
        return notes + self.route_warnings()

    def route_warnings(self) -> list[str]:
        """Each [[routes]] rule that can never match, in one sentence."""
        label, names = self.source or "settings", {a.name: a.type for a in self.accounts}
        notes = []
        for index, rule in enumerate(self.routes):
            why = _never_matches(rule, names)
            earlier = next((i for i in range(index) if self.routes[i].covers(rule)), None)
            if why is None and earlier is not None:
                shadow = self.routes[earlier]
                why = f"routes[{earlier}] before it matches every transfer" + (
                    " (it has no match keys)" if shadow.catch_all else " this one would"
                )
            if why is not None:
                notes.append(f"{label}: routes[{index}]: can never match: {why}")
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


def _never_matches(rule: RouteRule, accounts: Mapping[str, str]) -> str | None:
    """Why this rule can match no transfer of these accounts (name -> type), or None."""
    unknown = [name for name in rule.account if name not in accounts]
    if rule.account and len(unknown) == len(rule.account):
        return f"no configured account is named {' or '.join(map(repr, unknown))}"
    named = [name for name in rule.account if name in accounts]
    kinds = {accounts[name] for name in named} if named else set(accounts.values())
    if rule.provider and not kinds & set(rule.provider):
        wanted = " or ".join(rule.provider)
        if named:
            return f"account {' or '.join(map(repr, named))} is not of type {wanted}"
        return f"no configured account is of type {wanted}"
    return None


# TOML table -> its model, for the loader ([[accounts]] and [[routes]] are lists, read apart)
SECTIONS: dict[str, type[Section]] = {
    "slack": SlackSettings,
    "database": DatabaseSettings,
    "security": SecuritySettings,
    "watcher": WatcherSettings,
    "followups": FollowupSettings,
    "server": ServerSettings,
}
