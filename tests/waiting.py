"""Waiting in tests for something that happens on the event loop without a clock to step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], object], *, seconds: float, step: float = 0.05) -> None:
    """Check ``condition`` every ``step`` seconds until it is true; fail after ``seconds``."""
    for _ in range(int(seconds / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError("the condition never came true")
