"""How the user follows a job: work-done progress where the client shows it, messages where not.

Either way the job's command has been answered already: clients such as eglot wait for
the answer synchronously and give up after seconds, while a deep think takes minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from lsprotocol import types
from pygls.progress import Progress as WorkDoneProgress

from orchestrator.progress import Snapshot
from server.reporting import report_details, report_message, states

Tell = Callable[[types.MessageType, str], None]


class Channel(Protocol):
    def begin(self, title: str, message: str) -> None: ...

    def report(self, snapshot: Snapshot) -> None:
        """On the event loop, with the latest snapshot (see reporting.ProgressReporter)."""

    def end(self, message: str, *, shown_apart: bool = False) -> None:
        """`shown_apart`: the caller tells the user the outcome itself (an error, a notice)."""


class WorkDoneChannel:
    """`$/progress` on a token: short reports for the statusline, details in the log."""

    def __init__(
        self,
        progress: WorkDoneProgress,
        token: str | int,
        log: Tell,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress
        self._token = token
        self._details = _StateLog(log)
        self._clock = clock
        self._started = clock()

    def begin(self, title: str, message: str) -> None:
        value = types.WorkDoneProgressBegin(
            title=title, message=message, percentage=0, cancellable=True
        )
        self._progress.begin(self._token, value)

    def report(self, snapshot: Snapshot) -> None:
        message = report_message(snapshot, self._clock() - self._started)
        value = types.WorkDoneProgressReport(
            message=message, percentage=snapshot.percentage, cancellable=True
        )
        self._progress.report(self._token, value)
        self._details.write(snapshot)

    def end(self, message: str, *, shown_apart: bool = False) -> None:
        self._progress.end(self._token, types.WorkDoneProgressEnd(message=message))
        self._progress.tokens.pop(self._token, None)


class MessageChannel:
    """For clients without work-done progress: a message when the job starts and ends, and
    each step in the log."""

    def __init__(self, show: Tell, log: Tell) -> None:
        self._show = show
        self._details = _StateLog(log)

    def begin(self, title: str, message: str) -> None:
        self._show(
            types.MessageType.Info,
            f"{title}: {message} started; the command deepthink.cancel stops it.",
        )

    def report(self, snapshot: Snapshot) -> None:
        self._details.write(snapshot)

    def end(self, message: str, *, shown_apart: bool = False) -> None:
        if not shown_apart:
            self._show(types.MessageType.Info, f"Deep think {message}")


class _StateLog:
    """Logs a snapshot when the phase or an agent's state changed, not at every token."""

    def __init__(self, log: Tell) -> None:
        self._log = log
        self._logged: tuple[object, ...] = ()

    def write(self, snapshot: Snapshot) -> None:
        if states(snapshot) != self._logged:
            self._logged = states(snapshot)
            self._log(types.MessageType.Log, f"Deep think: {report_details(snapshot)}")
