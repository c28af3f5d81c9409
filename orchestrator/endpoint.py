"""What the process knows of one endpoint, shared by every client, phase and job using it.

A local server that answers one request at a time is one resource for the whole process:
the plan, the agents and the synthesis of every job in the language server take their
turn from the same slots. What the endpoint refused once (a request field it does not
know) is remembered, so that later requests do not pay the refusal again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from orchestrator.cancel import CancelToken


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
    _turn: threading.Condition = field(default_factory=threading.Condition)

    @contextmanager
    def slot(self, cancel: CancelToken) -> Iterator[_Slot]:
        """Hold one of the endpoint's slots for a request and its retries; waits its turn.

        Raises Cancelled (or DeadlineExceeded) if the token ends while waiting.
        """
        unregister = cancel.on_cancel(self._wake)
        try:
            with self._turn:
                while not cancel.cancelled and self.limit and self._in_flight >= self.limit:
                    self._turn.wait()
                cancel.raise_if_cancelled()
                self._in_flight += 1
                self._arrivals += 1
                held = _Slot(self, self._in_flight - 1, self._arrivals)
        finally:
            unregister()
        try:
            yield held
        finally:
            with self._turn:
                self._in_flight -= 1
                self._turn.notify()

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
