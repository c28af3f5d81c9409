"""A run's hard cap on tokens (orchestrator.max_tokens), shared by the threads of its phases."""

from __future__ import annotations

import threading

from orchestrator.llm import Usage
from orchestrator.result import CallUsage


class TokenBudget:
    """Tokens spent so far against a limit; None: no limit.

    A request is never cut off midway: the budget is checked before each one, so a run
    ends at most one request per running agent past its limit.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    def add(self, usage: Usage) -> None:
        """Count a request as it ends (agents, while others still run)."""
        with self._lock:
            self._used += usage.total_tokens

    def settle(self, calls: list[CallUsage]) -> None:
        """Count every request of the run so far, between phases."""
        total = sum(call.usage.total_tokens for call in calls)
        with self._lock:
            self._used = max(self._used, total)

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    @property
    def spent(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def note(self) -> str:
        return (
            f"the run's token budget of {self.limit:,} (orchestrator.max_tokens) was used up "
            f"({self.used:,} tokens): agents still working stopped, the synthesis used the "
            "answers done by then"
        )
