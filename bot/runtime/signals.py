"""The signals that stop a command which runs until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["STOP_SIGNALS", "stop_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signals() -> Iterator[asyncio.Event]:
    """An event set by Ctrl-C (SIGINT) or SIGTERM while the block runs; wait on it, then let
    the block unwind to clean up. Enter it before saying "Ctrl-C stops it".

    Both signals are handled whatever the process inherited for them: a command that a
    script starts in the background inherits SIGINT ignored, and a supervisor (systemd,
    Docker) stops it with SIGTERM, whose default ends the process without any cleanup.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    if threading.current_thread() is not threading.main_thread():  # signals go to the main one
        yield stop
        return
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
