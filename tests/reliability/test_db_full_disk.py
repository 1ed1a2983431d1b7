"""A full disk under the running bot: its SQLite file on a small tmpfs that is filled up.

Needs mounting (root with CAP_SYS_ADMIN); skipped elsewhere. ``tmp_path`` is this module's
own: the bot (``tests/slack/conftest.py``) keeps its database on the small disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.sqlite import FULL, UNAVAILABLE
from tests.reliability.results import record
from tests.reliability.test_db_faults import WATCHING, database_error, health, watch_answer
from tests.slack.conftest import Bot

DISK = "8m"


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK mounted on the test's own directory."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small disk needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount is not allowed here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(directory: Path) -> Path:
    """Fill the disk to the last byte; the file that did it."""
    filler = directory / "filler"
    out = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1):
            try:
                while os.write(out, b"\0" * size):
                    pass
            except OSError:  # ENOSPC: on to smaller writes
                pass
    finally:
        os.close(out)
    return filler


async def test_a_full_disk_answers_503_and_writes_work_once_space_is_freed(bot: Bot) -> None:
    assert WATCHING in await watch_answer(bot, "before.example")
    filler = fill(bot.db_path.parent)

    full = await health(bot)
    answers = []
    while len(answers) < 50 and not any(UNAVAILABLE in a for a in answers):
        answers.append(await watch_answer(bot, f"fill-{len(answers)}.example"))
    filler.unlink()
    after = await watch_answer(bot, "after.example")
    response = await health(bot)

    assert database_error(full) == FULL
    assert UNAVAILABLE in answers[-1], answers[-1]  # none said "watching" without saving
    assert WATCHING in after, after
    assert response.status_code == 200, response.json()
    record(
        "faults survived",
        "disk under the SQLite file filled (8 MB tmpfs): /healthz 503, refused in words, "
        "writes back once space was freed",
        len(answers),
        "faults",
        note="A tmpfs filled to the last byte under the running bot: /healthz said the "
        "database is full, no command said 'watching' without saving, and the next command "
        "after the filler was deleted was saved.",
    )
