"""What the process knows of one endpoint, shared by every client, phase and job using it.

A local server that answers one request at a time is one resource for the whole process:
the plan, the agents and the synthesis of every job in the language server take their
turn from the same slots, first come first served. What the endpoint refused once (a
request field it does not know) is remembered, so that later requests do not pay the
refusal again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from orchestrator.cancel import CancelToken


class Turn(StrEnum):
    """Where a request is in the endpoint's queue, as its caller hears of it."""

    WAITING = "waiting"  # all slots are taken: it waits (only told when it has to)
    SENDING = "sending"  # it holds a slot
    DONE = "done"  # it has given the slot back


SlotListener = Callable[[Turn], None]


class Stalled(Exception):
    """A request waited for its turn while no request to the endpoint ended for `patience`."""

    def __init__(self, waited: float, patience: float) -> None:
        super().__init__(f"waited {waited:.0f} s")
        self.waited = waited
        self.patience = patience


@dataclass(frozen=True)
class Overlap:
    """Whether other requests to the endpoint ran while one request was in flight."""

    others: int  # requests in flight besides this one when it started, or started since


@dataclass
class Endpoint:
    base_url: str
    limit: int | None = None  # requests in flight at once; None: no limit
    refused: set[str] = field(default_factory=set)  # optional request fields answered 400 to
    context_window: int | None = None  # tokens, as the endpoint's models list told
    window_known: bool = False  # the models list has been asked (it may not tell)
    _in_flight: int = 0
    _arrivals: int = 0
    _queue: deque[object] = field(default_factory=deque)  # waiting requests, first come first
    _moved: float = 0.0  # when a request last gave its slot back
    _turn: threading.Condition = field(default_factory=threading.Condition)

    @contextmanager
    def slot(
        self,
        cancel: CancelToken,
        listener: SlotListener | None = None,
        patience: float | None = None,
    ) -> Iterator[_Slot]:
        """Hold one of the endpoint's slots for a request and its retries; waits its turn.

        `listener` hears when the request has to wait, when it has its slot and when it gave
        it back. Raises Cancelled (or DeadlineExceeded) if the token ends while waiting, and
        Stalled if no request to the endpoint ended for `patience` seconds meanwhile: every
        request in this process ends within its own deadline, so only a stuck one elsewhere
        (or a bug) can hold the queue that long.
        """
        tell = listener or _deaf
        with self._turn:
            held = self._take() if not self._queue and self._free() else None
            if held is None:
                me = object()
                self._queue.append(me)
        if held is None:
            tell(Turn.WAITING)
            held = self._wait(me, cancel, patience)
        try:
            tell(Turn.SENDING)
            yield held
        finally:
            with self._turn:
                self._in_flight -= 1
                self._moved = time.monotonic()
                self._turn.notify_all()
            tell(Turn.DONE)

    def _wait(self, me: object, cancel: CancelToken, patience: float | None) -> _Slot:
        started = time.monotonic()
        unregister = cancel.on_cancel(self._wake)
        try:
            with self._turn:
                while not (self._queue[0] is me and self._free()):
                    now = time.monotonic()
                    since = now - max(started, self._moved)
                    if cancel.cancelled or (patience is not None and since >= patience):
                        self._queue.remove(me)
                        self._turn.notify_all()  # the next in line may go
                        cancel.raise_if_cancelled()
                        raise Stalled(now - started, since)
                    self._turn.wait(None if patience is None else patience - since)
                self._queue.popleft()
                held = self._take()
                self._turn.notify_all()  # with several slots, the next in line may go too
                return held
        finally:
            unregister()

    def _free(self) -> bool:
        return not self.limit or self._in_flight < self.limit

    def _take(self) -> _Slot:
        self._in_flight += 1
        self._arrivals += 1
        return _Slot(self, self._in_flight - 1, self._arrivals)

    def _wake(self) -> None:
        with self._turn:
            self._turn.notify_all()

    def arrivals(self) -> int:
        with self._turn:
            return self._arrivals


@dataclass
class _Slot:
    endpoint: Endpoint
    others_at_start: int
    arrivals_at_start: int

    def overlap(self) -> Overlap:
        """Other requests that shared the endpoint with this one so far."""
        return Overlap(self.others_at_start + self.endpoint.arrivals() - self.arrivals_at_start)


def _deaf(turn: Turn) -> None:
    pass


_ENDPOINTS: dict[str, Endpoint] = {}
_REGISTRY = threading.Lock()


def endpoint_for(base_url: str, limit: int | None) -> Endpoint:
    """The process's record of `base_url`; the latest configured limit applies to all."""
    with _REGISTRY:
        endpoint = _ENDPOINTS.setdefault(base_url, Endpoint(base_url))
    with endpoint._turn:
        endpoint.limit = limit
        endpoint._turn.notify_all()
    return endpoint
