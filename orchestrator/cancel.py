"""Cooperative cancellation shared by the orchestrator, its agents and the LLM transport."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Cancelled(Exception):
    """Raised inside a run when its token has been cancelled."""


class DeadlineExceeded(Cancelled):
    """Raised when a token's own deadline (an agent's `task_timeout`) has passed."""


class CancelToken:
    """A thread-safe cancellation flag with callbacks and an optional deadline.

    Children follow their parent: cancelling a job cancels every agent's token,
    while an agent's deadline only cancels that agent.
    """

    def __init__(self, deadline: float | None = None, parent: CancelToken | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._deadline = deadline
        self._timer: threading.Timer | None = None
        self._paused_with: float | None = None  # seconds left, while the deadline stands still
        self.reason = ""
        if parent is not None:
            parent.on_cancel(lambda: self.cancel(parent.reason))
        if deadline is not None:
            self._start_timer(deadline)

    def child(self, timeout: float | None = None) -> CancelToken:
        deadline = None if timeout is None else time.monotonic() + timeout
        return CancelToken(deadline=deadline, parent=self)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when there is none."""
        with self._lock:
            if self._paused_with is not None:
                return self._paused_with
            if self._deadline is None:
                return None
            return max(0.0, self._deadline - time.monotonic())

    def pause(self) -> None:
        """Stop this token's own deadline from running (an agent waiting for its turn at the
        endpoint is not working); its parents' deadlines go on."""
        with self._lock:
            if self._deadline is None or self._paused_with is not None or self._event.is_set():
                return
            self._paused_with = max(0.0, self._deadline - time.monotonic())
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def resume(self) -> None:
        """Let the deadline run again, with the time it had left when paused."""
        with self._lock:
            if self._paused_with is None:
                return
            left, self._paused_with = self._paused_with, None
            if self._event.is_set():
                return
            self._start_timer(time.monotonic() + left)

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` once on cancel (at once if already cancelled); returns an unregister."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._unregister(callback)
        callback()
        return lambda: None

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cancel. Returns True if cancelled."""
        return self._event.wait(seconds)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            if self.reason == "timeout":
                raise DeadlineExceeded(self.reason)
            raise Cancelled(self.reason)

    def release(self) -> None:
        """Stop the deadline timer once the work it guards has finished."""
        with self._lock:
            timer, self._timer = self._timer, None
            self._paused_with = None
            self._deadline = None
        if timer is not None:
            timer.cancel()

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Make this the token `active_token()` returns on this thread, for the block."""
        reset = _ACTIVE.set(self)
        try:
            yield
        finally:
            _ACTIVE.reset(reset)

    def _start_timer(self, deadline: float) -> None:
        self._deadline = deadline
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.cancel("timeout")

    def _unregister(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


# Tools take no cancel token (their interface is a plugin API): an agent activates its own
# around each tool call, and code that starts child processes kills them when it fires.
_ACTIVE: ContextVar[CancelToken | None] = ContextVar("deepthink_active_cancel", default=None)


def active_token() -> CancelToken | None:
    """The token of the agent whose tool runs on this thread, if any."""
    return _ACTIVE.get()
