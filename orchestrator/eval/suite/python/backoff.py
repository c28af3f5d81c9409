"""Retry calls to flaky services with capped exponential backoff and jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class RetriesExhausted(Exception):
    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last}")
        self.attempts = attempts
        self.last = last


def delays(base: float, cap: float, attempts: int, rng: random.Random) -> list[float]:
    """'Full jitter' waits: a random time up to base * 2**n, never over cap."""
    return [rng.uniform(0, min(cap, base * 2**n)) for n in range(attempts - 1)]


def retry(
    call: Callable[[], T],
    *,
    retry_on: tuple[type[Exception], ...],
    attempts: int = 4,
    base: float = 0.2,
    cap: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call `call` until it succeeds; only `retry_on` errors are retried."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    waits = delays(base, cap, attempts, rng or random.Random())
    for attempt in range(attempts):
        try:
            return call()
        except retry_on as error:
            if attempt == attempts - 1:
                raise RetriesExhausted(attempts, error) from error
            sleep(waits[attempt])
    raise AssertionError("unreachable: the loop returns or raises")
