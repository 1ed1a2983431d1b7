"""The `transferbot` command: check the configuration, migrate the database, simulate, serve."""

from __future__ import annotations

import argparse
import asyncio
import csv
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bot.runtime.logs import LOG_LEVELS, configure_logging, installed_masker
from bot.settings import ConfigError, Settings, load_settings
from providers.base import Action
from providers.registry import DESCRIPTORS, PROVIDER_TYPES

__all__ = [
    "COMMANDS",
    "LOG_LEVELS",
    "SIMULATOR_PORTS",
    "SIMULATOR_SECRET",
    "add_command",
    "describe_settings",
    "main",
]

logger = logging.getLogger(__name__)

# The secret a simulator accepts when no --secret-env is given: for simulators only, never
# for a real provider account.
SIMULATOR_SECRET = "simulator-only-secret-not-for-real-accounts"
# Default ports, from each provider's descriptor: the real services' own where unprivileged.
SIMULATOR_PORTS = {d.type: d.simulator_port for d in DESCRIPTORS}

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


# -- commands ------------------------------------------------------------------------------

Subcommands = Any  # argparse's private _SubParsersAction
Run = Callable[[argparse.Namespace], int]


def add_command(commands: Subcommands, name: str, run: Run, help: str) -> argparse.ArgumentParser:
    """Register a sub-command that takes the global options too; returns its parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=help, parents=[_global_options(argparse.SUPPRESS)]
    )
    parser.set_defaults(run=run)
    return parser


def _global_options(default: Any) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config",
        default=default,
        metavar="PATH",
        help="configuration file (default: $TRANSFERBOT_CONFIG or ./transferbot.toml)",
    )
    options.add_argument(
        "--log-level",
        default=default,
        choices=LOG_LEVELS,
        help="log level (default: server.log_level from the configuration, or info)",
    )
    return options


def _settings(args: argparse.Namespace) -> Settings:
    """Load the configuration, register its secrets with the masker, set up logging."""
    settings = load_settings(args.config)
    masker = installed_masker()
    masker.register(*settings.secret_values())
    configure_logging(
        args.log_level or settings.server.log_level, settings.server.log_format, masker=masker
    )
    return settings


def run_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print("\n".join(describe_settings(settings)))
    said, problems = _check_channels(settings, offline=args.offline)
    print(said)
    masker = installed_masker()
    for warning in [*settings.warnings(), *problems]:
        print(f"warning: {masker.mask(warning)}", file=sys.stderr)
    return EXIT_OK


def _check_channels(settings: Settings, *, offline: bool) -> tuple[str, list[str]]:
    """Whether the bot is in every channel alerts go to: a summary line and the problems."""
    slack = settings.slack
    uses = [(slack.alert_channel, "slack.alert_channel")] if slack.alert_channel else []
    uses += [(rule.channel, f"routes[{i}].channel") for i, rule in enumerate(settings.routes)]
    if not uses:
        return "slack channels: none configured, nothing to check", []
    if offline:
        return "slack channels: check skipped (--offline)", []
    if slack.bot_token is None:
        return (
            f"slack channels: check skipped: variable {slack.bot_token_env} is not set, and "
            "only the bot token can ask Slack which channels the bot is in",
            [],
        )
    from slack_sdk.web.async_client import AsyncWebClient  # lazy: only this check talks to Slack

    from bot.slack.channels import CHECK_TIMEOUT_SECONDS, check_channels  # lazy: as above

    async def check() -> Any:
        client = AsyncWebClient(
            token=slack.bot_token.get_secret_value() if slack.bot_token else None,
            base_url=slack.api_base_url,
            timeout=CHECK_TIMEOUT_SECONDS,
            retry_handlers=[],  # offline, say so at once
        )
        return await check_channels(client, uses)

    logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # its retry notes are not ours

    result = asyncio.run(check())
    label = settings.source or "settings"
    problems = [f"{label}: {problem}" for problem in result.problems]
    count = len({channel for channel, _ in uses})
    if result.skipped is not None:
        said = f"slack channels: check skipped after {result.checked} of {count}: {result.skipped}"
    elif problems:
        said = f"slack channels: {count} checked; the bot can't post in {len(problems)} (below)"
    else:
        said = f"slack channels: {count} checked; the bot is in every one"
    return said, problems


def add_check_config(commands: Subcommands) -> None:
    parser = add_command(
        commands,
        "check-config",
        run_check_config,
        "validate the configuration and print a summary (secrets masked); with the bot "
        "token set, ask Slack whether the bot is in every alert channel",
    )
    parser.add_argument("--offline", action="store_true", help="don't ask Slack about the channels")


def run_simulate(args: argparse.Namespace) -> int:
    from providers.simulators import make_simulator  # lazy: only this command loads it
    from providers.simulators.base import SimClock  # lazy: only this command loads it

    secret = SIMULATOR_SECRET
    if args.secret_env:
        secret = os.environ.get(args.secret_env, "")
        if not secret:
            print(
                f"transferbot: --secret-env: variable {args.secret_env} is not set", file=sys.stderr
            )
            return EXIT_CONFIG
        installed_masker().register(secret)
    if args.speed <= 0:
        print("transferbot: --speed: must be more than 0", file=sys.stderr)
        return EXIT_CONFIG
    options: dict[str, Any] = {"secret": secret, "clock": SimClock(speed=args.speed)}
    if args.username:
        options["username"] = args.username
    simulator = make_simulator(args.provider, **options)
    if args.port is None:
        args.port = SIMULATOR_PORTS[args.provider]
    try:
        asyncio.run(_serve_simulator(simulator, args))
    except OSError as exc:
        print(
            f"transferbot: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


async def _serve_simulator(simulator: Any, args: argparse.Namespace) -> None:
    from bot.runtime.signals import stop_signals  # lazy: only this command loads it
    from providers.simulators.base import LoopbackServer  # lazy: only this command loads it

    refs: list[str] = []
    if args.sample:
        result = simulator.populate_sample()
        refs = list(await result if inspect.isawaitable(result) else result)
    with stop_signals() as stop:
        async with LoopbackServer(simulator, host=args.host, port=args.port) as url:
            print(
                f"{args.provider} simulator at {url} ({_simulator_terms(simulator, args)})"
                + (f"; sample transfers: {', '.join(refs)}" if args.sample else "")
                + "; Ctrl-C stops it",
                flush=True,
            )
            await stop.wait()


def _simulator_terms(simulator: Any, args: argparse.Namespace) -> str:
    user = getattr(simulator, "username", None)
    terms = [f"user {user}"] if user else []
    if getattr(simulator, "account_number", None):
        terms.append(f"account {simulator.account_number}")
    terms.append(f"secret from {args.secret_env}" if args.secret_env else "the simulator secret")
    terms.append(f"speed {args.speed:g}x")
    return ", ".join(terms)


_DEFAULT_PORTS = ", ".join(f"{kind} {port}" for kind, port in SIMULATOR_PORTS.items())


def add_simulate(commands: Subcommands) -> None:
    parser = add_command(
        commands, "simulate", run_simulate, "serve a provider simulator until Ctrl-C"
    )
    parser.add_argument("provider", choices=PROVIDER_TYPES)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (default: {_DEFAULT_PORTS}; 0: any)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--secret-env",
        metavar="NAME",
        help=f"variable holding the secret to accept (default: {SIMULATOR_SECRET!r})",
    )
    parser.add_argument("--username", help="the user or reseller name to accept (default: any)")
    parser.add_argument("--sample", action="store_true", help="start with a sample of transfers")


def run_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    where = settings.database.masked_url
    try:
        from storage.migrate import upgrade_database  # lazy: only this command loads it
    except ModuleNotFoundError as exc:
        if exc.name not in ("storage.migrate", "storage"):
            raise
        print("transferbot: this installation has no database migrations", file=sys.stderr)
        return EXIT_FAILED
    try:
        asyncio.run(upgrade_database(settings.database.url))
    except Exception as exc:
        logger.debug("database upgrade failed", exc_info=True)
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {_first_line(exc)}"
        print(
            f"transferbot: could not upgrade the database at {where}: "
            f"{installed_masker().mask(reason)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"database at {where} is up to date")
    return EXIT_OK


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


def add_db(commands: Subcommands) -> None:
    db = add_command(commands, "db", _needs_subcommand, "manage the database")
    db_commands = db.add_subparsers(title="database commands", metavar="COMMAND")
    add_command(
        db_commands, "upgrade", run_db_upgrade, "create or migrate the schema to the latest"
    )


def _needs_subcommand(args: argparse.Namespace) -> int:
    print("transferbot: name a sub-command; see --help", file=sys.stderr)
    return EXIT_CONFIG


def run_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.require_serve()
    from bot.runtime.serve import serve  # lazy: only this command loads it
    from bot.runtime.socket_client import AppTokenRefused  # lazy: only this command loads it
    from storage.errors import StorageError  # lazy: only this command loads it

    if args.host is not None or args.port is not None:
        server = settings.server.model_copy(
            update={
                "host": args.host or settings.server.host,
                "port": settings.server.port if args.port is None else args.port,
            }
        )
        settings = settings.model_copy(update={"server": server})
    from bot.runtime.tuning import tune_gc  # lazy: only this command loads it

    tune_gc()  # what start-up made lives as long as the process
    try:
        if args.simulate:
            from bot.runtime.simulated import serve_simulated  # lazy: only this command loads it

            asyncio.run(serve_simulated(settings, out=sys.stdout))
        else:
            asyncio.run(serve(settings))
    except StorageError as exc:
        print(f"transferbot: {installed_masker().mask(exc.message)}", file=sys.stderr)
        return EXIT_FAILED
    except AppTokenRefused as exc:
        print(f"transferbot: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"transferbot: cannot serve: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def add_serve(commands: Subcommands) -> None:
    parser = add_command(
        commands,
        "serve",
        run_serve,
        "run the Slack bot and the watcher (Socket Mode with an app token, else HTTP)",
    )
    parser.add_argument("--host", default=None, help="address to listen on (default: server.host)")
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: server.port)"
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="use the four built-in provider simulators (with sample transfers) instead of "
        "the configured accounts: try the bot in a real workspace before wiring credentials",
    )


def run_demo(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("transferbot: --speed: must be more than 0", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(args.log_level or "warning")
    from bot.runtime.demo import run_demo as play  # lazy: only this command loads it

    return play(speed=args.speed, keep=args.keep, socket_mode=args.socket_mode)


def add_demo(commands: Subcommands) -> None:
    parser = add_command(
        commands,
        "demo",
        run_demo,
        "play the bot's whole job on this machine: simulators, a Slack stand-in, no accounts",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="how fast the story plays (2: twice as fast)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave everything running afterwards, until Ctrl-C"
    )
    parser.add_argument(
        "--socket-mode",
        action="store_true",
        help="the bot answers in Socket Mode, over the Slack stand-in's WebSocket link",
    )


AUDIT_COLUMNS = ("at", "actor", "verb", "transfer", "ref", "request", "detail")
_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def since_time(text: str, *, now: datetime | None = None) -> datetime:
    """``--since``: an ISO date or time (UTC unless it says), or a duration back from now."""
    match = _DURATION.match(text.strip().lower())
    if match:
        back = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - back
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO date (2026-12-01) nor a duration like 7d, 12h or 30m"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


AUDIT_FORMATS = ("csv",)


def export_format(text: str) -> str:
    """``--format``: csv, the one format the export writes (any case)."""
    word = text.strip().lower()
    if word not in AUDIT_FORMATS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a format the audit export writes; use --format csv"
        )
    return word


def run_audit_export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from storage.audit import export_audit  # lazy: only this command loads the database
    from storage.database import Database  # lazy: only this command loads the database

    async def lines() -> list[list[str]]:
        db = Database(settings.database.url)
        try:
            async with db.session() as session:
                found = await export_audit(session, since=args.since)
        finally:
            await db.dispose()
        return [
            [
                line.entry.at.astimezone(UTC).isoformat(),
                line.entry.actor,
                line.entry.verb,
                line.short_id or "",
                line.ref or "",
                str(line.entry.request_id or ""),
                line.entry.detail,
            ]
            for line in found
        ]

    rows = asyncio.run(lines())
    if args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as out:
            _write_csv(out, rows)
        print(f"wrote {len(rows)} audit entries to {args.output}", file=sys.stderr)
    else:
        _write_csv(sys.stdout, rows)
    return EXIT_OK


def _write_csv(out: TextIO, rows: list[list[str]]) -> None:
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    writer.writerows(rows)


def add_audit(commands: Subcommands) -> None:
    audit = add_command(commands, "audit", _needs_subcommand, "read the audit log")
    audit_commands = audit.add_subparsers(title="audit commands", metavar="COMMAND")
    export = add_command(
        audit_commands,
        "export",
        run_audit_export,
        "write who did what (times in UTC) as CSV; the audit log holds no secrets",
    )
    export.add_argument(
        "--since",
        type=since_time,
        default=None,
        metavar="WHEN",
        help="from an ISO date or time (UTC unless it says) or a duration back: 7d, 12h, 30m",
    )
    export.add_argument(
        "--format", type=export_format, default="csv", metavar="FORMAT", help="csv (the only one)"
    )
    export.add_argument("--output", metavar="FILE", help="write here (default: standard output)")


# The sub-commands, each registered by one small function.
COMMANDS: list[Callable[[Subcommands], None]] = [
    add_check_config,
    add_db,
    add_audit,
    add_simulate,
    add_serve,
    add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transferbot",
        description="Slack chat-ops for domain and hosting-account transfers.",
        parents=[_global_options(None)],
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `transferbot` command; returns the exit status (2: bad configuration)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return int(exc.code or 0)
    run: Run | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    configure_logging(args.log_level or "info")
    try:
        return run(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        logger.debug("command failed", exc_info=True)
        print(
            f"transferbot: {type(exc).__name__}: {installed_masker().mask(_first_line(exc))} "
            "(run with --log-level debug for details)",
            file=sys.stderr,
        )
        return EXIT_FAILED


# -- the check-config summary --------------------------------------------------------------


def describe_settings(settings: Settings) -> list[str]:
    """The check-config summary: what is configured, secrets shown only as set / not set."""
    security = settings.security
    return [
        f"configuration: {settings.source or '(defaults)'} is valid",
        *_describe_slack(settings),
        f"database: {settings.database.masked_url}"
        + (f" (from {settings.database.url_env})" if settings.database.url_env else ""),
        f"security: secret key {_variable(security.secret_key_env, security.secret_key)}",
        *_describe_watcher(settings),
        *_describe_accounts(settings),
        *_describe_routes(settings),
        f"server: {settings.server.host}:{settings.server.port}, log level "
        f"{settings.server.log_level}, {settings.server.log_format} logs",
    ]


def _variable(name: str, value: object) -> str:
    return f"in {name} ({'set' if value else 'not set'})"


def _ids(users: Sequence[str], groups: Sequence[str]) -> str:
    named = [*users, *(f"group {g}" for g in groups)]
    return ", ".join(named) if named else "nobody"


def _describe_slack(settings: Settings) -> list[str]:
    slack = settings.slack
    mode = "Socket Mode" if slack.socket_mode else "HTTP mode"
    at_once = [a.value for a in Action if a not in slack.approval_required]
    return [
        f"slack: {slack.command} in {mode}, alerts to {slack.alert_channel or '(no channel)'}, "
        f"API {slack.api_base_url}",
        f"  bot token {_variable(slack.bot_token_env, slack.bot_token)}; signing secret "
        f"{_variable(slack.signing_secret_env, slack.signing_secret)}; app token "
        f"{_variable(slack.app_token_env, slack.app_token)}",
        f"  operators: {_ids(slack.operators, slack.operator_groups)}",
        f"  approvers: {_ids(slack.approvers, slack.approver_groups)}",
        f"  need approval: {', '.join(slack.approval_required) or 'nothing'}; run at once for "
        f"operators: {', '.join(at_once) or 'nothing'}",
        f"  requests expire after {slack.request_expiry_minutes} min; dry run "
        f"{'on' if slack.dry_run else 'off'}; home tab {'on' if slack.home_tab else 'off'}",
    ]


def _describe_watcher(settings: Settings) -> list[str]:
    w = settings.watcher
    stall = ", ".join(
        f"{key} {_duration(after.total_seconds())}" for key, after in w.stall_after.items()
    )
    zone = w.digest_timezone or "UTC"
    digest = f"daily digest at {w.digest_time:%H:%M} {zone}" if w.digest_time else "no digest"
    sync = f"every {w.sync_interval_minutes} min" if w.sync_interval_minutes else "never"
    return [
        f"watcher: tick {_duration(w.tick_seconds)}, poll every "
        f"{_duration(w.min_interval_seconds)}..{_duration(w.max_interval_seconds)} "
        f"(changes seen within {_duration(w.max_detection_delay_seconds)}), jitter {w.jitter:.0%}, "
        f"batch {w.batch_size}, lease {_duration(w.lease_seconds)}",
        f"  sync {sync}; outage after {w.outage_after_failures} failures; {digest}",
        f"  stuck after: {stall}",
    ]


def _describe_accounts(settings: Settings) -> list[str]:
    rows = [
        (
            a.name,
            a.type,
            a.base_url,
            f"user {a.username}" if a.username else "-",
            f"account {a.account_number}" if a.account_number else "-",
            f"secret {_variable(a.secret_env, a.secret.get_secret_value())}",
        )
        for a in settings.accounts
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(6)]
    lines = [f"accounts: {len(rows)}"]
    for row in rows:
        lines.append(
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
    return lines


def _describe_routes(settings: Settings) -> list[str]:
    if not settings.routes:
        return [f"routes: none; every alert goes to {settings.slack.alert_channel or '(none)'}"]
    lines = [f"routes: {len(settings.routes)}, first match wins, else the alert channel"]
    for index, rule in enumerate(settings.routes):
        keys = [
            f"{name} {'/'.join(words)}"
            for name, words in (
                ("account", rule.account),
                ("provider", rule.provider),
                ("phase", rule.phase),
            )
            if words
        ]
        if rule.subject is not None:
            keys.append(f"subject ~ '{rule.subject}'")
        policy = f" (policy {rule.policy})" if rule.policy else ""
        lines.append(
            f"  routes[{index}]: {', '.join(keys) or 'everything'} -> {rule.channel}{policy}"
        )
    return lines


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


if __name__ == "__main__":
    sys.exit(main())
