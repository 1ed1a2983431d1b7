"""``transferbot audit export``: the audit log as CSV, through main([...])."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage.audit import record_audit
from storage.database import Database
from storage.migrate import upgrade_database
from storage.models import TrackedTransfer

NOW = datetime.now(UTC).replace(microsecond=0)


async def _fill(url: str) -> None:
    await upgrade_database(url)
    db = Database(url)
    async with db.session() as session:
        row = TrackedTransfer(
            short_id="t-ab12", account="hostway-main", provider="hostway",
            ref="wrong-epp.example", phase="blocked",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        old = NOW - timedelta(days=30)
        await record_audit(session, actor="U0OLD", verb="watched", transfer_id=row.id, now=old)
        await record_audit(
            session, actor="U0ALICE", verb="requested", transfer_id=row.id,
            detail='retry "wrong-epp.example", for approval', now=NOW - timedelta(hours=1),
        )  # fmt: skip
        await record_audit(session, actor="system", verb="dry_run", detail="no transfer", now=NOW)
    await db.dispose()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db = tmp_path / "tb.sqlite3"
    asyncio.run(_fill(f"sqlite+aiosqlite:///{db}"))
    path = tmp_path / "transferbot.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{db}"\n')
    return path


def test_export_writes_csv_since_a_duration_to_a_file(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    status = main(
        ["audit", "export", "--config", str(config), "--since", "7d", "--output", str(out)]
    )
    assert status == 0
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["verb"] for r in rows] == ["requested", "dry_run"]  # the 30-day-old one is out
    first = rows[0]
    assert first["actor"] == "U0ALICE" and first["transfer"] == "t-ab12"
    assert first["ref"] == "wrong-epp.example" and first["request"] == ""
    assert first["detail"] == 'retry "wrong-epp.example", for approval'  # quoted by csv
    assert datetime.fromisoformat(first["at"]) == NOW - timedelta(hours=1)
    assert first["at"].endswith("+00:00")
    assert rows[1]["transfer"] == "" and rows[1]["ref"] == ""


def test_export_since_an_iso_date_to_stdout(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    since = (NOW - timedelta(days=60)).date().isoformat()
    assert main(["audit", "export", "--config", str(config), "--since", since]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["at", "actor", "verb", "transfer", "ref", "request", "detail"]
    assert [r[2] for r in rows[1:]] == ["watched", "requested", "dry_run"]


def test_a_bad_since_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "export", "--config", str(config), "--since", "lately"]) == 2
    assert "neither an ISO date" in capsys.readouterr().err


def test_format_csv_is_accepted_in_any_case(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    args = ["audit", "export", "--config", str(config), "--format", "CSV", "--output", str(out)]
    assert main(args) == 0
    with out.open(newline="") as f:
        assert [r["verb"] for r in csv.DictReader(f)] == ["watched", "requested", "dry_run"]


@pytest.mark.parametrize("wanted", ["json", "xlsx", ""])
def test_any_other_format_is_refused_in_one_sentence_and_nothing_written(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], wanted: str
) -> None:
    out = tmp_path / "audit.out"
    args = ["audit", "export", "--config", str(config), "--format", wanted, "--output", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{wanted!r} is not a format the audit export writes; use --format csv" in err
    assert "Traceback" not in err
    assert not out.exists()
