"""Fuzzing the configuration loader: TOML from the real keys with random values, any environment."""

from __future__ import annotations

import json
import re
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from bot.settings import ConfigError, Settings, load_settings
from providers.base import Action
from providers.settings import PROVIDER_TYPES

TARGET = "Configuration loader (load_settings on generated TOML and environments)"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ENV_NAMES = ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"]
_ENV_NAMES += ["TRANSFERBOT_SECRET_KEY", "WHM_TOKEN", "HOSTWAY_TOKEN", "DB_URL", "X"]


# -- writing TOML -------------------------------------------------------------------------------


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _toml(config: dict[str, Any]) -> str:
    lines = []
    for name, table in config.items():
        if name == "accounts" and isinstance(table, list):
            for account in table:
                lines.append("[[accounts]]")
                if isinstance(account, dict):
                    lines += [f"{_key(k)} = {_value(v)}" for k, v in account.items()]
        elif isinstance(table, dict):
            lines.append(f"[{_key(name)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
        else:
            lines.append(f"{_key(name)} = {_value(table)}")
    return "\n".join(lines) + "\n"


# -- strategies ----------------------------------------------------------------------------------


def _toml_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**63 - 1)
        | st.floats()
        | st.text(max_size=20)
        | st.times()
    )
    return st.recursive(
        scalars,
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
        ),
        max_leaves=8,
    )


def _sections(shapes: Any, planted: str) -> st.SearchStrategy[dict[str, Any]]:
    anything = _toml_values()
    ids = st.lists(st.from_regex(r"\A[UWSCG][A-Z0-9]{2,10}\Z") | st.text(max_size=6), max_size=3)
    actions = st.lists(shapes.noisy([*(a.value for a in Action), "abort", "reset"]), max_size=3)
    durations = st.from_regex(r"\A\d{1,3}(\.\d)?[smhdw]\Z") | st.integers(-5, 10**6) | anything
    env_names = st.sampled_from(_ENV_NAMES) | st.text(max_size=8)
    slack = {
        "bot_token_env": env_names,
        "app_token_env": env_names,
        "api_base_url": st.sampled_from(
            ["https://slack.com/api/", "ftp://x", "http://", f"https://u:{planted}@slack.com/api/"]
        ),
        "alert_channel": st.from_regex(r"\A[CG][A-Z0-9]{2,8}\Z") | anything,
        "command": st.sampled_from(["/transfer", "transfer", "/t ransfer"]) | anything,
        "operators": ids | anything,
        "approver_groups": ids,
        "approval_required": actions | anything,
        "request_expiry_minutes": st.integers(-10, 20_000) | anything,
        "dry_run": st.booleans() | anything,
        "bot_token": st.just(planted),  # a secret in the file: refused, never echoed
    }
    watcher = {
        "tick_seconds": st.floats(-1, 400) | anything,
        "min_interval_seconds": st.integers(-1, 100_000),
        "max_interval_seconds": st.integers(-1, 3_000_000),
        "max_detection_delay_seconds": st.integers(-1, 100_000),
        "jitter": st.floats(-1, 1),
        "stall_after": st.dictionaries(
            shapes.noisy(["default", "hostway:14", "cpanel:PAUSED", "nope:1", "gandi:"]),
            durations,
            max_size=3,
        )
        | anything,
        "digest_time": st.times() | st.sampled_from(["09:00", "25:00", "9am"]) | anything,
    }
    database = {
        "url": st.sampled_from(
            [
                f"postgresql://bot:{planted}@db/t",
                f"mysql://bot:{planted}@db/t",
                f"postgresql://bot:{planted}@db:port/t",
                "sqlite+aiosqlite:///./x.sqlite3",
                "not a url",
            ]
        )
        | anything,
        "url_env": env_names,
    }
    server = {
        "port": st.integers(-1, 70_000) | anything,
        "log_level": shapes.noisy(["debug", "info", "warning"]),
        "log_format": st.sampled_from(["text", "json", "xml"]),
    }
    account = shapes.shaped(
        {
            "name": shapes.noisy(["whm-east", "hostway", "Bad Name"]),
            "type": shapes.noisy(list(PROVIDER_TYPES)),
            "base_url": st.sampled_from(
                [
                    "https://whm.example.net:2087",
                    "https://x:99999",
                    "nope",
                    f"https://root:{planted}@whm.example.net:2087",
                    f"https://{planted}@x:99999",
                ]
            ),
            "username": st.text(max_size=8) | anything,
            "secret_env": env_names,
            "secret": st.just(planted),
            "account_number": st.integers(0, 10**9) | st.text(max_size=8),
            "auth_scheme": shapes.noisy(["bearer", "basic"]),
            "timeout": st.floats(-1, 400) | anything,
            "read_retries": st.integers(-1, 20),
        },
        extra=False,
    )

    def table(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({}, optional=fields)

    return st.fixed_dictionaries(
        {},
        optional={
            "slack": table(slack) | anything,
            "watcher": table(watcher),
            "database": table(database),
            "security": table({"secret_key_env": env_names}),
            "server": table(server),
            "accounts": st.lists(account, max_size=3) | anything,
            "slakc": table({"x": anything}),
        },
    )


def _environments(planted: str) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        st.sampled_from(_ENV_NAMES),
        st.builds(lambda tail: planted + tail, st.text(max_size=20))
        | st.sampled_from([f"postgresql://bot:{planted}@db/t", f"mysql://u:{planted}@h/d"]),
        max_size=len(_ENV_NAMES),
    )


# -- the checks ---------------------------------------------------------------------------------


def _load(target: Any, path: Path, environ: dict[str, str], planted: str) -> Settings | None:
    try:
        settings = load_settings(path, environ=environ)
    except ConfigError as error:
        assert error.problems, "a ConfigError without a problem"
        for problem in error.problems:
            target.readable(ValueError(problem), sentence=False)
            assert problem.startswith(f"{path}: "), problem
        target.clean(str(error), repr(error), secrets=(planted,))
        return None
    shown = [repr(settings), str(settings), settings.model_dump_json(), *settings.warnings()]
    for line in settings.warnings():
        target.readable(ValueError(line), sentence=False)
    target.clean(*shown, secrets=(planted,))
    return settings


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "transferbot.toml"


def test_toml_from_the_real_keys_with_random_values_loads_or_says_each_problem(
    fuzz, shapes, planted, config_file
):
    target = fuzz(TARGET)

    broken_variable = {
        "accounts": [
            {"name": "a", "type": "gandi", "base_url": "https://x.example", "secret_env": "A\nB"}
        ]
    }

    url_with_password = {
        "accounts": [
            {
                "name": "a",
                "type": "gandi",
                "base_url": f"https://u:{planted}@x.example",
                "secret_env": "X",
            }
        ]
    }
    pinned = ((broken_variable, {}), (url_with_password, {"X": "an-api-key"}))

    @target.given(_sections(shapes, planted), _environments(planted), examples=pinned)
    def one(config: dict[str, Any], environ: dict[str, str]) -> None:
        config_file.write_text(_toml(config), encoding="utf-8")
        _load(target, config_file, environ, planted)

    one()


def test_any_text_or_bytes_as_a_config_file_loads_or_says_why(fuzz, planted, config_file):
    target = fuzz(TARGET)
    texts = st.text(max_size=300).map(lambda t: t.encode("utf-8", errors="surrogatepass"))
    deep = (  # tomllib recurses once per level: thousands of levels raise RecursionError
        (b"a = " + b"[" * 5000 + b"]" * 5000, {}),
        (b"a = " + b"{b = " * 5000 + b"1" + b"}" * 5000, {}),
        (b"a = " + b"9" * 5000, {}),  # int() refuses more than 4300 digits
    )

    @target.given(texts | st.binary(max_size=300), _environments(planted), examples=deep)
    def one(raw: bytes, environ: dict[str, str]) -> None:
        config_file.write_bytes(raw)
        _load(target, config_file, environ, planted)

    one()


def test_a_valid_config_reads_back_with_its_secrets_from_the_environment(
    fuzz, planted, config_file
):
    target = fuzz(TARGET)
    names = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,15}\Z")
    users = st.lists(st.from_regex(r"\A[UW][A-Z0-9]{2,10}\Z"), max_size=3, unique=True)

    @target.given(
        st.lists(
            st.tuples(names, st.sampled_from(PROVIDER_TYPES)), max_size=4, unique_by=lambda a: a[0]
        ),
        users,
        st.integers(1, 10_000),
        st.integers(1, 65535),
        st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and "\x00" not in s),
    )
    def one(
        accounts: list[tuple[str, str]], operators: list[str], expiry: int, port: int, tail: str
    ) -> None:
        tables = []
        environ = {}
        for index, (name, kind) in enumerate(accounts):
            variable = f"ACCOUNT_{index}_KEY"
            environ[variable] = planted + tail
            table: dict[str, Any] = {
                "name": name,
                "type": kind,
                "base_url": "https://api.example.net",
                "secret_env": variable,
                "username": "reseller",
            }
            if kind == "hostway":
                table["account_number"] = "1234567"
            tables.append(table)
        config = {
            "slack": {"operators": operators, "request_expiry_minutes": expiry},
            "server": {"port": port},
            "accounts": tables,
        }
        config_file.write_text(_toml(config), encoding="utf-8")
        settings = _load(target, config_file, environ, planted)
        assert settings is not None
        assert [(a.name, a.type) for a in settings.accounts] == accounts
        assert all(a.secret.get_secret_value() == planted + tail for a in settings.accounts)
        assert list(settings.slack.operators) == operators
        assert (settings.slack.request_expiry_minutes, settings.server.port) == (expiry, port)

    one()
