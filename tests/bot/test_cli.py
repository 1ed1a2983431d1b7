"""The `transferbot` command: one line per configuration problem and exit 2; no secret shown."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.cli import SIMULATOR_SECRET, main
from bot.runtime.logs import SecretMasker, configure_logging
from tests.bot.test_settings import CPANEL, EXAMPLE, EXAMPLE_ENV

SCRIPT = Path(sys.executable).with_name("transferbot")
HOSTWAY = """
[[accounts]]
name = "hostway"
type = "hostway"
base_url = "https://api.hostway.com"
secret_env = "HOSTWAY_TOKEN"
"""
OPENSRS = """
[[accounts]]
name = "opensrs"
type = "opensrs"
base_url = "https://horizon.opensrs.net:55443"
secret_env = "OPENSRS_KEY"
"""
ACCOUNT_ENV = {
    "WHM_TOKEN": "planted-whm",
    "HOSTWAY_TOKEN": "planted-hw",
    "OPENSRS_KEY": "planted-o",
    "GANDI_V3_KEY": "AbCdEfGhIjKlMnOpQrStUvWx",  # a v3 API key has 24 characters
    "GANDI_PAT": "pat_planted-token-0123",  # a v5 Personal Access Token
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No variable from the machine running the tests leaks into the configuration."""
    for name in [*EXAMPLE_ENV, *ACCOUNT_ENV, "SLACK_APP_TOKEN", "TRANSFERBOT_CONFIG", "DB_URL"]:
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def script_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in EXAMPLE_ENV and k != "SLACK_APP_TOKEN"}
    env.pop("TRANSFERBOT_CONFIG", None)
    return {**env, **extra}


def run_script(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


# -- through the real console script --------------------------------------------------------


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_script("check-config", env=script_env(), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == (
        "transferbot.toml: no such configuration file "
        "(give --config PATH or set TRANSFERBOT_CONFIG)\n"
    )
    assert result.stdout == ""


def test_malformed_toml_names_the_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[slack]\ncommand = /transfer\n")

    result = run_script("--config", "bad.toml", "check-config", env=script_env(), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == "bad.toml: line 2, column 11: malformed TOML: invalid value\n"


def test_duplicate_account_names_through_the_script(tmp_path: Path) -> None:
    (tmp_path / "dup.toml").write_text(CPANEL + CPANEL)

    result = run_script(
        "check-config", "--config", "dup.toml", env=script_env(WHM_TOKEN="t"), cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr == (
        "dup.toml: accounts[1].name: duplicate account name 'whm-east' (also accounts[0])\n"
    )
    assert "Traceback" not in result.stderr


def test_the_example_checks_out_and_no_secret_is_printed(tmp_path: Path) -> None:
    env = script_env(**EXAMPLE_ENV)

    result = run_script(
        "check-config", "--config", str(EXAMPLE), "--offline", env=env, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # every variable the example names is set: nothing to warn
    for planted in EXAMPLE_ENV.values():
        assert planted not in result.stdout
    assert "secret in GANDI_API_KEY (set)" in result.stdout
    assert "secret in GANDI_PAT (set)" in result.stdout
    assert "need approval: cancel, retry; run at once for operators: pause, resume" in (
        result.stdout
    )


# -- through main() -------------------------------------------------------------------------

BAD_CONFIGURATIONS = {
    "unknown key": (
        "[server]\nprot = 3000\n",
        "server.prot: unknown key (did you mean 'port'?)",
    ),
    "unknown section": (
        "[watch]\ntick_seconds = 5\n",
        "watch: unknown section (did you mean 'watcher'?)",
    ),
    "unknown provider type": (
        CPANEL.replace('"cpanel"', '"cpnael"'),
        "accounts[0].type: unknown provider type 'cpnael'; choose from cpanel, hostway, "
        "opensrs, gandi, gandi_v5",
    ),
    "unset credential": (
        CPANEL.replace("WHM_TOKEN", "WHM_EAST_TOKEN"),
        "accounts[0].secret_env: variable WHM_EAST_TOKEN is not set",
    ),
    "bad account URL": (
        CPANEL.replace("https://whm.example.net:2087", "whm.example.net"),
        "accounts[0].base_url: 'whm.example.net' is not an http(s) URL with a host",
    ),
    "bad Slack API URL": (
        '[slack]\napi_base_url = "localhost:9000"\n',
        "slack.api_base_url: 'localhost:9000' is not an http(s) URL with a host",
    ),
    "bad database URL": (
        '[database]\nurl = "transferbot.sqlite3"\n',
        "database.url: is not a database URL; use sqlite+aiosqlite:///PATH or "
        "postgresql+psycopg://USER:PASSWORD@HOST/DB",
    ),
    "Hostway without account number": (
        HOSTWAY,
        "accounts[0].account_number: a Hostway account needs its account number",
    ),
    "OpenSRS without username": (
        OPENSRS,
        "accounts[0].username: an OpenSRS account needs its reseller username",
    ),
    "cPanel without username": (
        CPANEL.replace('username = "root"\n', ""),
        "accounts[0].username: a cPanel account needs its WHM user",
    ),
    "wrong type": (
        '[slack]\ndry_run = "sometimes"\n',
        "slack.dry_run: must be a valid boolean, unable to interpret input",
    ),
    "out of range": (
        "[watcher]\njitter = 2\n",
        "watcher.jitter: must be less than or equal to 0.5",
    ),
    "intervals out of order": (
        "[watcher]\nmin_interval_seconds = 600\nmax_interval_seconds = 300\n",
        "watcher.max_interval_seconds: must be at least min_interval_seconds (600)",
    ),
    "unknown action": (
        '[slack]\napproval_required = ["cancel", "delete"]\n',
        "slack.approval_required: unknown action 'delete'; choose from pause, resume, cancel, "
        "retry, resend",
    ),
    "malformed user id": (
        '[slack]\napprovers = ["U0123ABCDEF", "@alice"]\n',
        "slack.approvers[1]: '@alice' is not a Slack user id (U… or W…)",
    ),
    "malformed group id": (
        '[slack]\noperator_groups = ["U0123ABCDEF"]\n',
        "slack.operator_groups[0]: 'U0123ABCDEF' is not a Slack user-group id (S…)",
    ),
    "malformed channel id": (
        '[slack]\nalert_channel = "#transfers"\n',
        "slack.alert_channel: '#transfers' is not a Slack channel id (C… or G…)",
    ),
    "bad stall key": (
        '[watcher.stall_after]\n"hostwya:14" = "5d"\n',
        "watcher.stall_after.\"hostwya:14\": 'hostwya' is not a provider type (cpanel, hostway, "
        "opensrs, gandi, gandi_v5)",
    ),
    "bad duration": (
        '[watcher.stall_after]\n"gandi:WAIT" = "two days"\n',
        "watcher.stall_after.\"gandi:WAIT\": 'two days' is not a duration like '90s', '15m', "
        "'2h' or '3d'",
    ),
    "a v3 key given to a v5 account": (
        '[[accounts]]\nname = "g"\ntype = "gandi"\napi = "v5"\n'
        'base_url = "https://api.gandi.net"\nsecret_env = "GANDI_V3_KEY"\n',
        "accounts[0].secret_env: GANDI_V3_KEY holds what looks like a 24-character v3 API key, "
        "but v5 takes a Personal Access Token: create one in Gandi's Admin (Account settings → "
        "Personal Access Tokens, with the “Manage domain names” permission) and put it there, "
        'or set api = "v3" to keep using the key',
    ),
    "a v5 token given to a v3 account": (
        '[[accounts]]\nname = "g"\ntype = "gandi"\n'
        'base_url = "https://rpc.gandi.net/xmlrpc/"\nsecret_env = "GANDI_PAT"\n',
        "accounts[0].secret_env: GANDI_PAT holds a v5 Personal Access Token (pat_…), but the "
        "account uses the v3 XML-RPC API, which takes the 24-character API key; to use the token "
        'set api = "v5" and base_url = "https://api.gandi.net"',
    ),
    "a v5 account at the v3 address": (
        '[[accounts]]\nname = "g"\ntype = "gandi"\napi = "v5"\n'
        'base_url = "https://rpc.gandi.net/xmlrpc/"\nsecret_env = "GANDI_PAT"\n',
        "accounts[0].base_url: this is Gandi's v3 XML-RPC address, but the account uses v5 "
        '(api = "v5"); v5 is at https://api.gandi.net (sandbox https://api.sandbox.gandi.net), '
        'or set api = "v3" to keep the v3 API',
    ),
    "a PAT's variable under another name": (
        '[[accounts]]\nname = "g"\ntype = "gandi"\napi = "v5"\nbase_url = "https://api.gandi.net"\n'
        'secret_env = "GANDI_PAT"\ntoken_env = "GANDI_PAT"\n',
        "accounts[0].token_env: unknown key (did you mean 'secret_env'? every account names the "
        "variable holding its token or key there, a Gandi PAT or API key too)",
    ),
    "an api that is neither": (
        '[[accounts]]\nname = "g"\ntype = "gandi"\napi = "v4"\n'
        'base_url = "https://api.gandi.net"\nsecret_env = "GANDI_PAT"\n',
        "accounts[0].api: must be 'v3' or 'v5'",
    ),
    "accounts as one table": (
        '[accounts]\nname = "x"\n',
        "accounts: must be a list of [[accounts]] tables",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGURATIONS)
def test_bad_configuration_is_one_line_naming_file_and_key(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text, problem = BAD_CONFIGURATIONS[case]
    path = tmp_path / "transferbot.toml"
    path.write_text(text, encoding="utf-8")
    for name, value in ACCOUNT_ENV.items():
        monkeypatch.setenv(name, value)

    status = main(["check-config", "--config", str(path)])

    out, err = capsys.readouterr()
    assert status == 2
    assert err == f"{path}: {problem}\n"
    assert out == ""


def test_a_directory_is_not_a_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--config", str(tmp_path), "check-config"])

    assert status == 2
    assert capsys.readouterr().err == f"{tmp_path}: is a directory, not a TOML file\n"


def test_the_configuration_path_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "from-env.toml"
    path.write_text("[server]\nport = 4000\n")
    monkeypatch.setenv("TRANSFERBOT_CONFIG", str(path))

    status = main(["check-config"])

    out, _ = capsys.readouterr()
    assert status == 0
    assert f"configuration: {path} is valid" in out
    assert "server: 0.0.0.0:4000" in out


def test_missing_slack_secrets_are_warnings_for_check_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "WHM_EAST_TOKEN", "HOSTWAY_API_TOKEN", "OPENSRS_API_KEY", "GANDI_API_KEY", "GANDI_PAT",
    ):  # fmt: skip
        monkeypatch.setenv(name, EXAMPLE_ENV[name])
    monkeypatch.setenv("SLACK_BOT_TOKEN", EXAMPLE_ENV["SLACK_BOT_TOKEN"])

    status = main(["check-config", "--config", str(EXAMPLE), "--offline"])  # Slack not asked

    out, err = capsys.readouterr()
    assert status == 0
    assert err.splitlines() == [
        f"warning: {EXAMPLE}: slack.signing_secret_env: variable SLACK_SIGNING_SECRET is not "
        "set; HTTP mode needs it (or set SLACK_APP_TOKEN for Socket Mode)",
        f"warning: {EXAMPLE}: security.secret_key_env: variable TRANSFERBOT_SECRET_KEY is not "
        "set; actions that take a secret (a new authInfo) can't be stored",
    ]
    assert "signing secret in SLACK_SIGNING_SECRET (not set)" in out


def test_the_summary_masks_the_database_password_and_shows_who_may_act(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "transferbot.toml"
    path.write_text(
        '[slack]\noperators = ["U01OPERATOR"]\napprover_groups = ["S01LEADS"]\n'
        'approval_required = ["cancel", "reset", "pause"]\n'
        '[database]\nurl_env = "DB_URL"\n' + CPANEL
    )
    monkeypatch.setenv("DB_URL", "postgresql://bot:Pl4nted-pw@db.internal/transfers")
    monkeypatch.setenv("WHM_TOKEN", "planted-whm-token")

    status = main(["check-config", "--config", str(path)])

    out, err = capsys.readouterr()
    assert status == 0
    assert "Pl4nted-pw" not in out + err
    assert "planted-whm-token" not in out + err
    assert "database: postgresql+psycopg://bot:***@db.internal/transfers (from DB_URL)" in out
    assert "  operators: U01OPERATOR\n" in out
    assert "  approvers: group S01LEADS\n" in out
    assert "need approval: pause, cancel, retry; run at once for operators: resume, resend" in out
    assert "whm-east  cpanel  https://whm.example.net:2087  user root" in out


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "godaddy"]) == 2
    assert "invalid choice: 'godaddy'" in capsys.readouterr().err


# -- logging ----------------------------------------------------------------------------------


def test_registered_secrets_are_masked_in_every_log_record() -> None:
    masker, stream = SecretMasker(), io.StringIO()
    masker.register("tok-PLANTED-123", None, "abc")  # too short to mask safely: ignored
    configure_logging("info", "text", masker=masker, stream=stream)
    log = logging.getLogger("providers.somewhere")

    log.info("calling with %s", "tok-PLANTED-123")
    try:
        raise RuntimeError("rejected tok-PLANTED-123")
    except RuntimeError:
        log.exception("failed")

    text = stream.getvalue()
    assert "tok-PLANTED-123" not in text
    assert "calling with ••••••\n" in text
    assert "RuntimeError: rejected ••••••\n" in text


def test_a_secret_held_by_work_is_masked_until_the_last_holder_lets_go() -> None:
    masker, stream = SecretMasker(), io.StringIO()
    masker.register("tok-PLANTED-123")  # the configuration's: for the life of the process
    configure_logging("info", "text", masker=masker, stream=stream)
    log = logging.getLogger("bot.somewhere")

    with masker.masking("epp-TYPED-789", "ab"):  # "ab": too short to mask safely
        with masker.masking("epp-TYPED-789"):  # the same value held twice (two requests)
            pass
        log.info("still held: %s", "epp-TYPED-789")
    log.info("let go: %s; kept: %s", "epp-TYPED-789", "tok-PLANTED-123")

    lines = [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()]
    assert lines == ["still held: ••••••", "let go: epp-TYPED-789; kept: ••••••"]
    assert masker.size == 1


def test_info_logs_leave_out_the_per_tick_chatter_of_libraries_but_not_their_failures() -> None:
    """At info, a day of serving would otherwise log two APScheduler lines per watcher tick."""
    stream = io.StringIO()
    configure_logging("info", "text", masker=SecretMasker(), stream=stream)
    executor = logging.getLogger("apscheduler.executors.default")
    executor.info('Running job "Watcher.tick (trigger: interval[0:00:05])"')
    executor.info('Job "Watcher.tick (trigger: interval[0:00:05])" executed successfully')
    logging.getLogger("alembic.runtime.plugins").info("setup plugin alembic.autogenerate.types")
    executor.warning('Run time of job "Watcher.tick" was missed by 0:00:07')
    executor.error('Job "Watcher.tick" raised an exception')
    logging.getLogger("bot.watcher.schedule").info("watcher started: a tick every 5 s")

    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        'Run time of job "Watcher.tick" was missed by 0:00:07',
        'Job "Watcher.tick" raised an exception',
        "watcher started: a tick every 5 s",
    ]


def test_json_logs_are_one_object_per_line_with_secrets_masked() -> None:
    masker, stream = SecretMasker(), io.StringIO()
    masker.register("key-PLANTED-456")
    configure_logging("debug", "json", masker=masker, stream=stream)

    logging.getLogger("bot.watcher").warning("account down (key %s)", "key-PLANTED-456")

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [
        ("warning", "bot.watcher", "account down (key ••••••)")
    ]


# -- db upgrade -------------------------------------------------------------------------------

needs_migrations = pytest.mark.skipif(
    importlib.util.find_spec("storage.migrate") is None,
    reason="storage.migrate (upgrade_database) is not written yet",
)


@needs_migrations
def test_db_upgrade_creates_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "tb.sqlite3"
    config = tmp_path / "transferbot.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n')

    status = main(["db", "upgrade", "--config", str(config)])

    out, err = capsys.readouterr()
    assert status == 0, err
    assert db.exists()
    assert out == f"database at sqlite+aiosqlite:///{db} is up to date\n"


@needs_migrations
def test_db_upgrade_of_an_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "transferbot.toml"
    config.write_text('[database]\nurl = "postgresql://bot:Pl4nted-pw@127.0.0.1:1/transfers"\n')

    status = main(["db", "upgrade", "--config", str(config)])

    out, err = capsys.readouterr()
    assert status == 1
    assert err.splitlines()[-1].startswith(
        "transferbot: could not upgrade the database at "
        "postgresql+psycopg://bot:***@127.0.0.1:1/transfers: "
    )
    assert "Pl4nted-pw" not in out + err
    assert "Traceback" not in err


# -- simulate ---------------------------------------------------------------------------------


def test_simulate_refuses_an_unset_secret_variable(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", "hostway", "--secret-env", "NO_SUCH_SIM_SECRET"])

    assert status == 2
    assert capsys.readouterr().err == (
        "transferbot: --secret-env: variable NO_SUCH_SIM_SECRET is not set\n"
    )


def test_simulate_on_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        status = main(["simulate", "hostway", "--port", str(port)])

    assert status == 1
    assert capsys.readouterr().err == (
        f"transferbot: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("providers.simulators.hostway") is None,
    reason="the Hostway simulator is not written yet",
)
@pytest.mark.parametrize(
    "stop, inherited",
    [
        ("INT", "default"),  # Ctrl-C in a terminal
        ("INT", "ignored"),  # started in the background by a script: SIGINT comes ignored
        ("TERM", "default"),  # systemd, Docker, kill
    ],
)
def test_simulate_serves_until_ctrl_c(tmp_path: Path, stop: str, inherited: str) -> None:
    command = [str(SCRIPT), "simulate", "hostway", "--port", "0", "--sample"]
    if inherited == "ignored":
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    process = subprocess.Popen(
        command,
        env=script_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a simulator that never says where it is
    watchdog.start()
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        watchdog.cancel()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        refs = line.split("sample transfers: ", 1)[1].split(";", 1)[0].split(", ")
        path = f"{url}/accounts/acct12345/domains/transfers/{refs[0]}"
        with httpx.Client(timeout=10) as http:
            good = http.get(path, headers={"Authorization": f"Bearer {SIMULATOR_SECRET}"})
            bad = http.get(path, headers={"Authorization": "Bearer wrong-secret"})
        assert line.startswith("hostway simulator at http://127.0.0.1:")
        assert good.status_code == 200
        assert good.json()["status"]["status"] is not None
        assert bad.status_code in (401, 403)
    finally:
        process.send_signal(getattr(signal, f"SIG{stop}"))
        try:
            _, err = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 0
    assert "Traceback" not in err
