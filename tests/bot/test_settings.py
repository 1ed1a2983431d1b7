"""The configuration loader: real TOML files, secrets from a given environment, every problem."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.settings import ConfigError, Settings, load_settings, parse_duration
from providers.base import Action

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "transferbot.example.toml"
EXAMPLE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-planted-bot-token",
    "SLACK_SIGNING_SECRET": "planted-signing-secret",
    "TRANSFERBOT_SECRET_KEY": "planted-secret-key-0123456789abcdef",
    "WHM_EAST_TOKEN": "planted-whm-token",
    "HOSTWAY_API_TOKEN": "planted-hostway-token",
    "OPENSRS_API_KEY": "planted-opensrs-key",
    "GANDI_API_KEY": "planted-gandi-key",
    "GANDI_PAT": "pat_planted-gandi-token",
}

CPANEL = """
[[accounts]]
name = "whm-east"
type = "cpanel"
base_url = "https://whm.example.net:2087"
username = "root"
secret_env = "WHM_TOKEN"
"""


CheckConfig = Callable[[Path, dict[str, str]], tuple[int, str, str]]


@pytest.fixture
def check_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[CheckConfig]:
    """`transferbot check-config --config PATH` with exactly these variables set."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def run(path: Path, environ: dict[str, str]) -> tuple[int, str, str]:
        for name in [*EXAMPLE_ENV, "SLACK_APP_TOKEN", "TRANSFERBOT_CONFIG", "WHM_TOKEN", "DB_URL"]:
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        status = main(["check-config", "--config", str(path)])
        out, err = capsys.readouterr()
        return status, out, err

    yield run
    root.handlers[:], root.level = handlers, level


def write(tmp_path: Path, text: str, name: str = "transferbot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {})
    return caught.value.problems


def test_the_example_file_validates_with_its_variables_set() -> None:
    settings = load_settings(EXAMPLE, environ=EXAMPLE_ENV)

    assert [(a.name, a.type) for a in settings.accounts] == [
        ("whm-east", "cpanel"),
        ("hostway", "hostway"),
        ("opensrs", "opensrs"),
        ("gandi", "gandi_v5"),  # type = "gandi", api = "v5"
        ("gandi-v3", "gandi"),
    ]
    assert settings.account("gandi").secret.get_secret_value() == "pat_planted-gandi-token"
    assert settings.account("gandi-v3").secret.get_secret_value() == "planted-gandi-key"
    assert settings.account("hostway").account_number == "1234567"
    assert settings.slack.bot_token.get_secret_value() == "xoxb-planted-bot-token"
    assert settings.slack.approval_required == (Action.CANCEL, Action.RETRY)
    assert settings.serve_problems() == []


def test_an_empty_file_means_every_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})

    assert settings.slack.command == "/transfer"
    assert settings.slack.api_base_url == "https://slack.com/api/"
    assert settings.slack.needs_approval(Action.RETRY)
    assert not settings.slack.needs_approval(Action.PAUSE)
    assert settings.slack.request_expiry_minutes == 60
    assert settings.database.url == "sqlite+aiosqlite:///./transferbot.sqlite3"
    assert settings.watcher.max_interval_seconds == 21600
    assert settings.watcher.stall_threshold("gandi", "WAIT") == timedelta(days=7)
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 3000)
    assert settings.accounts == ()


def test_the_path_comes_from_the_environment_when_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 8080\n", name="elsewhere.toml")

    settings = load_settings(environ={"TRANSFERBOT_CONFIG": str(path)})

    assert settings.server.port == 8080
    assert settings.source == str(path)


def test_stall_thresholds_by_provider_status(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[watcher.stall_after]\ndefault = "10d"\n"hostway:14" = "5d"\n"cpanel:PAUSED" = "2h"\n'
        '"opensrs:pending_owner" = "1h30m"\n',
    )

    watcher = load_settings(path, environ={}).watcher

    assert watcher.stall_threshold("hostway", "14") == timedelta(days=5)
    assert watcher.stall_threshold("cpanel", "paused") == timedelta(hours=2)
    assert watcher.stall_threshold("opensrs", "pending_owner") == timedelta(minutes=90)
    assert watcher.stall_threshold("hostway", "13") == timedelta(days=10)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("3d", 259200), ("1w", 604800), (45, 45)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "2 fortnights", "-3d", "0s", "3d junk"])
def test_durations_that_are_not(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("value", [86_400_000_000_000, float("inf"), float("nan"), "999999999d"])
def test_durations_too_long_to_mean_anything_are_refused_in_words(value: object) -> None:
    with pytest.raises(ValueError, match="at most 3650 days"):
        parse_duration(value)


def test_digest_time_accepts_text_and_toml_times(tmp_path: Path) -> None:
    text = load_settings(write(tmp_path, '[watcher]\ndigest_time = "09:00"\n'), environ={})
    native = load_settings(write(tmp_path, "[watcher]\ndigest_time = 09:00:00\n"), environ={})

    assert text.watcher.digest_time == native.watcher.digest_time == time(9, 0)


def test_digest_time_is_utc_unless_a_zone_is_named(tmp_path: Path) -> None:
    utc = load_settings(write(tmp_path, '[watcher]\ndigest_time = "09:00"\n'), environ={})
    assert utc.watcher.digest_timezone is None and utc.watcher.digest_zone is UTC
    paris = load_settings(
        write(tmp_path, '[watcher]\ndigest_time = "09:00"\ndigest_timezone = "Europe/Paris"\n'),
        environ={},
    )
    assert paris.watcher.digest_zone == ZoneInfo("Europe/Paris")


@pytest.mark.parametrize("zone", ["Europe/Pariss", "CEST+2", "../../etc/passwd", "Europe", ""])
def test_an_unknown_digest_zone_is_one_sentence(tmp_path: Path, zone: str) -> None:
    path = write(tmp_path, f'[watcher]\ndigest_time = "09:00"\ndigest_timezone = "{zone}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.problems == [
        f"{path}: watcher.digest_timezone: {zone!r} is not an IANA time zone; use a name like "
        "'Europe/Paris' or 'America/New_York'"
    ]


def test_a_digest_zone_without_a_time_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, '[watcher]\ndigest_timezone = "Asia/Tokyo"\n')
    notes = load_settings(path, environ={}).warnings()
    assert f"{path}: watcher.digest_timezone: set, but no digest_time, so no digest is posted" in (
        notes
    )


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("postgresql://bot:pw@db:5432/transfers", "postgresql+psycopg://bot:pw@db:5432/transfers"),
        ("postgres://bot:pw@db/transfers", "postgresql+psycopg://bot:pw@db/transfers"),
        ("sqlite:///var/lib/tb.sqlite3", "sqlite+aiosqlite:///var/lib/tb.sqlite3"),
        ("postgresql+psycopg://db/transfers", "postgresql+psycopg://db/transfers"),
        ("postgresql+asyncpg://bot:pw@db/t", "postgresql+psycopg://bot:pw@db/t"),
        ("postgresql+psycopg2://bot:pw@db/t", "postgresql+psycopg://bot:pw@db/t"),
        ("sqlite+pysqlite:///tb.sqlite3", "sqlite+aiosqlite:///tb.sqlite3"),
        ("postgresql:///t?host=/run/postgresql", "postgresql+psycopg:///t?host=/run/postgresql"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(
    tmp_path: Path, given: str, normalised: str
) -> None:
    path = write(tmp_path, f'[database]\nurl = "{given}"\n')

    assert load_settings(path, environ={}).database.url == normalised


def test_the_database_password_never_shows_in_dumps_or_reprs(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://bot:Pl4nted-pw@db/transfers"\n')

    settings = load_settings(path, environ={})

    assert settings.database.masked_url == "postgresql+psycopg://bot:***@db/transfers"
    assert "Pl4nted-pw" not in repr(settings)
    assert "Pl4nted-pw" not in settings.model_dump_json()
    assert "Pl4nted-pw" in settings.secret_values()


def test_the_database_url_may_come_from_a_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl_env = "DB_URL"\n')

    settings = load_settings(path, environ={"DB_URL": "postgresql://bot:pw@db/t"})

    assert settings.database.url == "postgresql+psycopg://bot:pw@db/t"


def test_secrets_never_show_in_dumps_or_reprs() -> None:
    settings = load_settings(EXAMPLE, environ=EXAMPLE_ENV)

    shown = repr(settings) + str(settings) + settings.model_dump_json()

    for value in EXAMPLE_ENV.values():
        assert value not in shown
    assert sorted(settings.secret_values()) == sorted(EXAMPLE_ENV.values())


def test_serve_needs_the_slack_secrets_and_the_key_but_checking_does_not() -> None:
    env = {k: v for k, v in EXAMPLE_ENV.items() if k.startswith(("WHM", "HOST", "OPEN", "GAN"))}

    settings = load_settings(EXAMPLE, environ=env)

    with pytest.raises(ConfigError) as caught:
        settings.require_serve()
    assert [p.split(": ")[1] for p in caught.value.problems] == [
        "slack.bot_token_env",
        "slack.signing_secret_env",
        "security.secret_key_env",
    ]


def test_socket_mode_needs_no_signing_secret() -> None:
    env = dict(EXAMPLE_ENV, SLACK_APP_TOKEN="xapp-planted")
    del env["SLACK_SIGNING_SECRET"]

    settings = load_settings(EXAMPLE, environ=env)

    assert settings.slack.socket_mode
    assert settings.serve_problems() == []


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[slack]\ncomand = "/x"\n[server]\nport = 70000\n'
        + CPANEL
        + CPANEL.replace('username = "root"\n', ""),
    )

    problems = problems_of(path)

    label = str(path)
    assert problems == [
        f"{label}: slack.comand: unknown key (did you mean 'command'?)",
        f"{label}: server.port: must be less than or equal to 65535",
        f"{label}: accounts[0].secret_env: variable WHM_TOKEN is not set",
        f"{label}: accounts[1].secret_env: variable WHM_TOKEN is not set",
        f"{label}: accounts[1].username: a cPanel account needs its WHM user",
        f"{label}: accounts[1].name: duplicate account name 'whm-east' (also accounts[0])",
    ]


def test_a_secret_written_in_the_file_is_refused_and_not_echoed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[slack]\nbot_token = "xoxb-planted-in-file"\n'
        + CPANEL.replace(
            'secret_env = "WHM_TOKEN"', 'secret_env = "WHM_TOKEN"\nsecret = "pw-in-file"'
        ),
    )

    problems = problems_of(path, {"WHM_TOKEN": "t0ken"})

    assert [p.split(": ")[1] for p in problems] == ["slack.bot_token", "accounts[0].secret"]
    assert "xoxb-planted-in-file" not in "\n".join(problems)
    assert "pw-in-file" not in "\n".join(problems)


SHORT_KEY = (
    "security.secret_key_env: the key in TRANSFERBOT_SECRET_KEY is too short; use at least 16 "
    "random characters"
)


@pytest.mark.parametrize(
    ("text", "environ", "problem"),
    [
        (
            '[database]\nurl_env = "DB_URL"\n',
            {"DB_URL": "mysql://bot:Pl4nted-pw@db/t"},
            "database.url_env: the URL in DB_URL uses driver 'mysql', which is not supported; "
            "use sqlite+aiosqlite or postgresql+psycopg",
        ),
        ("", {"TRANSFERBOT_SECRET_KEY": "short-key"}, SHORT_KEY),
        ("", {"TRANSFERBOT_SECRET_KEY": "   short-key         "}, SHORT_KEY),
    ],
    ids=[
        "a bad database URL, without its password",
        "a short secret key, without showing it",
        "a secret key padded with spaces, measured without them",
    ],
)
def test_a_bad_value_in_a_variable_is_one_problem_that_does_not_show_it(
    tmp_path: Path, text: str, environ: dict[str, str], problem: str
) -> None:
    path = write(tmp_path, text)

    assert problems_of(path, environ) == [f"{path}: {problem}"]


def test_settings_can_be_built_in_code_for_tests_elsewhere() -> None:
    settings = Settings()

    assert settings.warnings()  # no tokens, no accounts, nobody may act
    assert settings.serve_problems()[0].startswith("settings: slack.bot_token_env")


# -- the file itself: size, kind, nesting ---------------------------------------------------


def test_a_file_over_one_mebibyte_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "# padding\n" * 110_000 + "[server]\nport = 4000\n")

    assert problems_of(path) == [
        f"{path}: is larger than 1 MiB, too large for a configuration file; "
        "check that --config names the right file"
    ]


def test_a_device_is_not_a_configuration_file() -> None:
    assert problems_of(Path("/dev/null")) == [
        "/dev/null: is not a regular file; give the path of a TOML file"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "[slack]\noperators = " + "[" * 5000 + "]" * 5000 + "\n",  # RecursionError in tomllib
        "[slack]\noperators = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
        "[watcher]\nstall_after" + ".a" * 5000 + ' = "1d"\n',  # parsed without recursion
    ],
    ids=["arrays", "inline tables", "dotted keys"],
)
def test_deep_nesting_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)

    assert problems_of(path) == [
        f"{path}: nests tables or arrays more than 10 levels deep; "
        "a configuration needs only two or three"
    ]


def test_an_integer_too_long_for_toml_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = " + "9" * 5000 + "\n")

    assert problems_of(path) == [f"{path}: malformed TOML: an integer has too many digits"]


def test_deep_nesting_through_check_config_exits_2_without_a_traceback(
    tmp_path: Path, check_config: CheckConfig
) -> None:
    path = write(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n")

    status, out, err = check_config(path, {})

    assert (status, out) == (2, "")
    assert err == (
        f"{path}: nests tables or arrays more than 10 levels deep; "
        "a configuration needs only two or three\n"
    )


# -- types: true and false are not numbers --------------------------------------------------

HOSTWAY = """
[[accounts]]
name = "hostway"
type = "hostway"
base_url = "https://api.hostway.com"
secret_env = "WHM_TOKEN"
account_number = 1234567
"""
NUMERIC_KEYS = [
    ("slack", "request_expiry_minutes"),
    *(
        ("watcher", key)
        for key in (
            "tick_seconds",
            "min_interval_seconds",
            "max_interval_seconds",
            "max_detection_delay_seconds",
            "jitter",
            "batch_size",
            "lease_seconds",
            "sync_interval_minutes",
            "outage_after_failures",
        )
    ),
    ("server", "port"),
    *(("accounts", key) for key in ("concurrency", "rate_limit", "timeout", "read_retries")),
]


@pytest.mark.parametrize(("section", "key"), NUMERIC_KEYS, ids=[k for _, k in NUMERIC_KEYS])
@pytest.mark.parametrize("boolean", ["true", "false"])
def test_true_and_false_are_not_numbers(
    tmp_path: Path, section: str, key: str, boolean: str
) -> None:
    if section == "accounts":
        text, where = CPANEL + f"{key} = {boolean}\n", f"accounts[0].{key}"
    else:
        text, where = f"[{section}]\n{key} = {boolean}\n", f"{section}.{key}"

    problems = problems_of(write(tmp_path, text), {"WHM_TOKEN": "t0ken"})

    assert problems == [
        f"{tmp_path / 'transferbot.toml'}: {where}: must be a number, not true or false"
    ]


def test_a_hostway_account_number_may_be_a_number_or_text_but_not_true(tmp_path: Path) -> None:
    env = {"WHM_TOKEN": "t0ken"}
    number = load_settings(write(tmp_path, HOSTWAY), environ=env)
    text = load_settings(write(tmp_path, HOSTWAY.replace("1234567", '"1234567"')), environ=env)
    path = write(tmp_path, HOSTWAY.replace("1234567", "true"))

    assert number.accounts[0].account_number == text.accounts[0].account_number == "1234567"
    assert problems_of(path, env) == [
        f"{path}: accounts[0].account_number: must be a number or a string, not true or false"
    ]


def test_tick_seconds_true_through_check_config_exits_2(
    tmp_path: Path, check_config: CheckConfig
) -> None:
    path = write(tmp_path, "[watcher]\ntick_seconds = true\n")

    status, out, err = check_config(path, {})

    assert (status, out) == (2, "")
    assert err == f"{path}: watcher.tick_seconds: must be a number, not true or false\n"


# -- secrets: blank is not a secret ---------------------------------------------------------

BLANK_SECRETS = {
    "SLACK_BOT_TOKEN": "slack.bot_token_env: variable SLACK_BOT_TOKEN holds only blank "
    "space; put the bot token (xoxb-…) in it",
    "SLACK_SIGNING_SECRET": "slack.signing_secret_env: variable SLACK_SIGNING_SECRET holds "
    "only blank space; put the app's signing secret in it",
    "SLACK_APP_TOKEN": "slack.app_token_env: variable SLACK_APP_TOKEN holds only blank space; "
    "put the app-level token (xapp-…) in it, or unset it for HTTP mode",
    "TRANSFERBOT_SECRET_KEY": "security.secret_key_env: variable TRANSFERBOT_SECRET_KEY holds "
    "only blank space; put the key in it",
    "WHM_TOKEN": "accounts[0].secret_env: variable WHM_TOKEN holds only blank space; put the "
    "account's API token or key in it",
}


@pytest.mark.parametrize("variable", BLANK_SECRETS)
@pytest.mark.parametrize("blank", [" " * 20, "\t\n ", "\u3000" * 16])
def test_a_secret_of_blank_space_is_refused_naming_the_setting(
    tmp_path: Path, variable: str, blank: str
) -> None:
    path = write(tmp_path, CPANEL)
    env = {"WHM_TOKEN": "t0ken", variable: blank}

    assert problems_of(path, env) == [f"{path}: {BLANK_SECRETS[variable]}"]


def test_a_blank_secret_key_fails_check_config_without_showing_it(
    tmp_path: Path, check_config: CheckConfig
) -> None:
    path = write(tmp_path, "")

    status, out, err = check_config(path, {"TRANSFERBOT_SECRET_KEY": " " * 32})

    assert (status, out) == (2, "")
    assert err == (
        f"{path}: security.secret_key_env: variable TRANSFERBOT_SECRET_KEY holds only blank "
        "space; put the key in it\n"
    )


# -- URLs: credentials never in the file, never shown ---------------------------------------

PASSWORD = "Pl4nted-url-pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://root:{PASSWORD}@whm.example.net:2087", "https://***@whm.example.net:2087"),
        (f"https://{PASSWORD}@whm.example.net", "https://***@whm.example.net"),
        (f"https://root:12/{PASSWORD}@whm.example.net", "https://***@whm.example.net"),
        (f"https://root:{PASSWORD}@whm.example.net:99999", "https://***@whm.example.net:99999"),
    ],
    ids=["user and password", "token as user", "password with a slash", "and a bad port"],
)
def test_an_account_url_with_credentials_is_refused_without_showing_them(
    tmp_path: Path, url: str, shown: str
) -> None:
    path = write(tmp_path, CPANEL.replace("https://whm.example.net:2087", url))

    problems = problems_of(path, {"WHM_TOKEN": "t0ken"})

    assert problems == [
        f"{path}: accounts[0].base_url: '{shown}' holds a user name or password; secrets "
        "don't go in the file: put the user in username and the secret in the variable "
        "named by secret_env"
    ]


def test_a_bad_account_url_is_shown_with_its_credentials_masked(tmp_path: Path) -> None:
    path = write(tmp_path, CPANEL.replace("https://whm.example.net:2087", f"ftp://u:{PASSWORD}@h"))

    problems = problems_of(path, {"WHM_TOKEN": "t0ken"})

    assert PASSWORD not in "\n".join(problems)
    assert problems[0].startswith(f"{path}: accounts[0].base_url: 'ftp://***@h' ")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            f"https://bot:{PASSWORD}@slack.example/api/",
            "'https://***@slack.example/api/' holds a user name or password; Slack's Web API "
            "takes none: give its address alone",
        ),
        ("https://slack.example:99999/api/", "'https://slack.example:99999/api/' has a bad port"),
    ],
    ids=["credentials", "bad port"],
)
def test_the_slack_api_url_is_checked_like_an_account_url(
    tmp_path: Path, url: str, problem: str
) -> None:
    path = write(tmp_path, f'[slack]\napi_base_url = "{url}"\n')

    assert problems_of(path) == [f"{path}: slack.api_base_url: {problem}"]


def test_check_config_never_prints_a_url_password(
    tmp_path: Path, check_config: CheckConfig
) -> None:
    url = f"https://root:{PASSWORD}@whm.example.net:2087"
    path = write(tmp_path, CPANEL.replace("https://whm.example.net:2087", url))

    status, out, err = check_config(path, {"WHM_TOKEN": "planted-whm-token"})

    assert status == 2
    assert PASSWORD not in out + err
    assert err.count("\n") == 1


# -- database URLs: what storage accepts, with a host and a port that can be ----------------

DB_PASSWORD = "Pl4nted-db-pw"
BAD_PORT = "has a bad port; use a number from 1 to 65535"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            f"postgresql://u:{DB_PASSWORD}@@h:99999/db",
            "has an '@' after the one before the host; write an '@' in the user name or "
            "password as %40",
        ),
        (f"postgresql://u:{DB_PASSWORD}@h:99999/db", BAD_PORT),
        (f"postgresql://u:{DB_PASSWORD}@h:0/db", BAD_PORT),
        (f"postgresql://u:{DB_PASSWORD}@h:port/db", BAD_PORT),
        (f"postgresql://u:{DB_PASSWORD}@h:/db", BAD_PORT),
        (
            f"postgresql://u:{DB_PASSWORD}@/db",
            "has no host; use postgresql+psycopg://USER:PASSWORD@HOST/DB (or ?host=/socket/dir)",
        ),
    ],
    ids=[
        "stray @ and bad port",
        "port 99999",
        "port 0",
        "port not a number",
        "empty port",
        "no host",
    ],
)
def test_a_malformed_database_url_is_one_line_without_its_password(
    tmp_path: Path, url: str, problem: str
) -> None:
    in_file = write(tmp_path, f'[database]\nurl = "{url}"\n', name="in-file.toml")
    in_variable = write(tmp_path, '[database]\nurl_env = "DB_URL"\n', name="in-variable.toml")

    assert problems_of(in_file) == [f"{in_file}: database.url: {problem}"]
    assert problems_of(in_variable, {"DB_URL": url}) == [
        f"{in_variable}: database.url_env: the URL in DB_URL {problem}"
    ]


SCHEMES = ["sqlite", "sqlite+pysqlite", "sqlite+aiosqlite", "postgres", "postgresql"]
SCHEMES += ["postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg", "mysql"]
SCHEMES += ["mysql+aiomysql", "oracle", "mssql+pyodbc", "postgresql+pg8000", "sqlite+pysqlcipher"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_settings_accept_exactly_the_database_urls_storage_accepts(
    tmp_path: Path, scheme: str
) -> None:
    from storage.database import database_url
    from storage.errors import DatabaseUnavailable

    url = f"{scheme}:///tb.sqlite3" if scheme.startswith("sqlite") else f"{scheme}://u:pw@h/db"
    path = write(tmp_path, f'[database]\nurl = "{url}"\n')
    try:
        expected = database_url(url).render_as_string(hide_password=False)
    except DatabaseUnavailable:
        expected = None

    try:
        accepted: str | None = load_settings(path, environ={}).database.url
    except ConfigError:
        accepted = None
    else:  # storage reads what settings hand it as it would have read the URL itself
        accepted = database_url(accepted).render_as_string(hide_password=False)

    assert accepted == expected


_SRS = """
[[accounts]]
name = "srs"
type = "{kind}"
base_url = "https://rr-n1-tor.opensrs.net:55443"
username = "reseller"
account_number = "1"
secret_env = "SRS_KEY"
{extra}
"""


def test_event_notifications_are_an_opensrs_account_setting_with_its_defaults(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, _SRS.format(kind="opensrs", extra="events = true"))
    (account,) = load_settings(path, environ={"SRS_KEY": "k" * 20}).accounts
    assert (account.events, account.event_poll_seconds, account.safety_poll_seconds) == (
        True,
        60,
        86400,
    )


@pytest.mark.parametrize(
    ("kind", "extra", "problem"),
    [
        ("hostway", "events = true", "accounts[0].events: Hostway offers no change feed"),
        ("opensrs", 'events = "yes"', "accounts[0].events"),
        ("opensrs", "events = true\nevent_poll_seconds = 1", "accounts[0].event_poll_seconds"),
        (
            "opensrs",
            "events = true\nevent_poll_seconds = 600\nsafety_poll_seconds = 300",
            "accounts[0].safety_poll_seconds: ",
        ),
    ],
)
def test_event_settings_that_cannot_work_are_refused_in_words(
    tmp_path: Path, kind: str, extra: str, problem: str
) -> None:
    path = write(tmp_path, _SRS.format(kind=kind, extra=extra))
    found = problems_of(path, {"SRS_KEY": "k" * 20})
    assert any(f": {problem}" in line for line in found), found
