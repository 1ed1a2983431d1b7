"""The contract as Gandi's two APIs (XML-RPC v3 and REST v5) share it.

Both simulators tell the same stories ("completes", "quick", "authorization_error", ...) and
both recover a stuck transfer by a relaunch with a new authinfo, so the transfers the
contract seeds, the retry's inputs and the secret planted are one; each test class says how
its simulator adds a transfer, how old a stuck one must be, and what is its own.
"""

from __future__ import annotations

from typing import Any

from providers.simulators.base import Simulator
from tests.providers.contract import ProviderContract

OLD_CODE, NEW_CODE = "Old-Code-1111", "New-Code-2222"


class GandiContract(ProviderContract):
    """Set ``blocked_age`` and implement ``add``; the seeds then follow."""

    blocked_age: float  # how old the stuck transfer is when seeded, in seconds

    def add(self, sim: Any, domain: str, **story: Any) -> str:
        """Add a transfer of ``domain`` to the simulator; return its ref."""
        raise NotImplementedError

    def seed_inflight(self, sim: Simulator) -> str:
        return self.add(sim, "moving-example.com", story="completes", age=10)

    def seed_blocked(self, sim: Simulator) -> str:
        """A transfer whose stored authinfo (OLD_CODE) was refused; NEW_CODE is the right one."""
        return self.add(
            sim,
            "blocked-example.com",
            story="authorization_error",
            age=self.blocked_age,
            authinfo=OLD_CODE,
            right_authinfo=NEW_CODE,
        )

    def seed_completed(self, sim: Simulator) -> str:
        return self.add(sim, "done-example.com", story="quick", age=120)

    def retry_inputs(self) -> dict[str, str]:
        return {"authinfo": NEW_CODE}

    def planted_secrets(self) -> tuple[str, ...]:
        return (OLD_CODE,)
