"""Signatures the events endpoint let in, remembered for as long as Slack's signatures last.

A signature is good for five minutes from its timestamp (``SIGNATURE_SECONDS``); the same
signature seen again within them is the same request sent again. :class:`RecentSignatures`
keeps them in arrival order and forgets from the front, so each check costs the same
(amortized O(1)) however many are remembered: it used to scan them all once it held
100,000, at 10 ms a check.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

__all__ = ["MAX_REMEMBERED", "SIGNATURE_SECONDS", "RecentSignatures"]

logger = logging.getLogger(__name__)

SIGNATURE_SECONDS = 5 * 60  # how old a signed request may be (Slack's rule, Bolt's check)
# More than one process takes in five minutes (tests/reliability/test_load.py measured
# about 1,350 requests/s: ~400,000); about 250 bytes each, so ~125 MB at worst. A burst
# beyond it forgets the oldest first.
MAX_REMEMBERED = 500_000


class RecentSignatures:
    """Signatures seen in the last :data:`SIGNATURE_SECONDS`, forgotten in arrival order.

    Each is forgotten once its own timestamp is five minutes old (no request signed with
    it is accepted after that), or, when one arrived before it is still younger, as soon
    as that one goes: timestamps are within five minutes of arrival, so nothing stays
    longer than ten minutes after it arrived.

    ``looked_at`` counts the entries examined while forgetting (at most one per check
    plus one per entry ever remembered): the work, for tests and benchmarks.
    """

    def __init__(
        self,
        *,
        seconds: int = SIGNATURE_SECONDS,
        limit: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self.clock = clock
        self.looked_at = 0
        self._known: set[str] = set()
        self._arrivals: deque[tuple[int, str]] = deque()  # (forget at, signature), by arrival

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, signature: object) -> bool:
        return signature in self._known

    def add(self, signature: str, timestamp: int) -> bool:
        """Remember ``signature`` (signed at ``timestamp``); False if it was remembered already."""
        self._forget_expired(self.clock())
        if signature in self._known:
            return False
        self._known.add(signature)
        self._arrivals.append((timestamp + self.seconds, signature))
        while len(self._arrivals) > self.limit:
            self._known.discard(self._arrivals.popleft()[1])
        return True

    def _forget_expired(self, now: float) -> None:
        arrivals = self._arrivals
        while arrivals:
            self.looked_at += 1
            forget_at, signature = arrivals[0]
            if forget_at > now:
                return
            arrivals.popleft()
            self._known.discard(signature)
