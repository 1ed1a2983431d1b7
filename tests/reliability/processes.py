"""Real processes for the crash tests: start a runner module with a JSON config, wait, kill -9.

Shared by tests/watcher/test_crash.py (the watcher alone) and tests/reliability/test_crashes.py
(the whole bot), so both kill and restart processes the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage.models import Alert, AlertState

__all__ = ["ROOT", "alerts", "all_posted", "free_port", "kill9", "start_module", "wait_for"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


async def start_module(module: str, config: Path, logs: Path) -> asyncio.subprocess.Process:
    """``python -m module CONFIG`` from the checkout; its output goes to a numbered log file."""
    stem = module.rsplit(".", 1)[-1]
    out = (logs / f"{stem}-{len(list(logs.glob(f'{stem}-*')))}.log").open("w")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, str(config),
        cwd=ROOT, stdout=out, stderr=out, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


async def wait_for(
    condition: Callable[[], Awaitable[Any]], seconds: float = 90.0, *, what: str = "it"
) -> None:
    """Poll ``condition`` every 50 ms until it is true; fail after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} never happened within {seconds:g} s")


async def kill9(process: asyncio.subprocess.Process) -> None:
    """SIGKILL, as the OOM killer or a pulled plug would: no cleanup runs."""
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def alerts(services: Any) -> list[Alert]:
    """Every alert row but thread headers."""
    async with services.db.session() as session:
        return list(await session.scalars(select(Alert).where(Alert.kind != "header")))


async def all_posted(services: Any, expected: int) -> bool:
    found = await alerts(services)
    return len(found) == expected and all(a.state == AlertState.POSTED.value for a in found)
