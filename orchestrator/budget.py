"""A run's hard cap on tokens (orchestrator.max_tokens), shared by the threads of its phases.

Each request claims its worst case before it is sent: its prompt, estimated, and the most
tokens it may answer (the max_tokens sent). A claim that does not fit waits while other
requests' claims may still shrink to their real usage, and is refused when it cannot fit,
so that requests running side by side never take the run past its limit together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from orchestrator.cancel import CancelToken


class OverBudget(Exception):
    """A request's worst case does not fit in what is left of the run's token budget."""


class TokenBudget:
    """Tokens spent and claimed so far against a limit; None: no limit."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._used = 0  # tokens requests really took
        self._held = 0  # worst cases of the attempts under way
        self._refused = False
        self._changed = threading.Condition(threading.RLock())  # _hold re-enters it

    def claim(
        self,
        worst: int,
        cancel: CancelToken,
        *,
        required: bool = False,
        on_wait: Callable[[], None] | None = None,
    ) -> Claim:
        """Hold `worst` tokens for a request's first attempt.

        Waits (calling `on_wait` first) while other attempts' claims may free room, and
        raises OverBudget when there is none; Cancelled if `cancel` ends meanwhile. A
        `required` claim (the plan, the synthesis) is held at once: the run always plans
        and always merges what it has, and the requests beside it still see its claim.
        """
        if not self._hold(worst, required):
            if on_wait is not None:
                on_wait()
            unregister = cancel.on_cancel(self._wake)
            try:
                with self._changed:
                    while not self._hold(worst, required):
                        cancel.raise_if_cancelled()
                        self._changed.wait()
            finally:
                unregister()
        return Claim(self, worst, required)

    @property
    def used(self) -> int:
        with self._changed:
            return self._used

    @property
    def spent(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    @property
    def refused(self) -> bool:
        """Whether a request was refused for want of tokens."""
        with self._changed:
            return self._refused

    def note(self) -> str:
        return (
            f"the run's token budget of {self.limit:,} (orchestrator.max_tokens) was used up "
            f"({self.used:,} tokens spent, and a further request could take more than was "
            "left): agents still working stopped, the synthesis used the answers done by then"
        )

    def _hold(self, worst: int, required: bool) -> bool:
        """Hold `worst` if it fits now; False if it may once other holds shrink; OverBudget
        if it never can."""
        with self._changed:
            if not (required or self._fits(worst)):
                if self._held:
                    return False
                self._refused = True
                raise OverBudget
            self._held += worst
            return True

    def _fits(self, worst: int) -> bool:
        return self.limit is None or self._used + self._held + worst <= self.limit

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()


class Claim:
    """One request's hold on the budget, from before it is sent until its attempts end."""

    def __init__(self, budget: TokenBudget, worst: int, required: bool) -> None:
        self.budget = budget
        self._worst = worst
        self._required = required
        self._holding = worst

    def spend(self, tokens: int) -> None:
        """An attempt ended having taken `tokens`: count them in place of its worst case."""
        budget = self.budget
        with budget._changed:
            budget._used += tokens
            budget._held -= self._holding
            self._holding = 0
            budget._changed.notify_all()

    def renew(self) -> None:
        """Hold the worst case again, for a retry; OverBudget, without waiting, if it does
        not fit (the retry would wait on the transport thread that every request needs)."""
        budget = self.budget
        with budget._changed:
            if self._holding:
                return
            if not self._required and not budget._fits(self._worst):
                budget._refused = True
                raise OverBudget
            budget._held += self._worst
            self._holding = self._worst

    def close(self) -> None:
        """Give back what is still held (a request that ended before an attempt did)."""
        self.spend(0)
