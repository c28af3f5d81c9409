"""Running the engine from the terminal: progress on the main thread, Ctrl-C to cancel."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from orchestrator.cancel import CancelToken
from orchestrator.cli.display import Display, choose_display
from orchestrator.cli.report import report
from orchestrator.cli.settings import open_cache
from orchestrator.cli.shell import EXIT_CANCELLED, PROG, UsageError
from orchestrator.config import (
    Config,
)
from orchestrator.engine import Orchestrator
from orchestrator.llm import LLMClient
from orchestrator.progress import Progress
from orchestrator.request import Request
from orchestrator.result import RunResult
from orchestrator.workspace import Workspace

POLL_SECONDS = 0.1  # how often the main thread looks at Ctrl-C and progress


def execute(
    config: Config, root: Path, request: Request, args: argparse.Namespace, llm: LLMClient
) -> int:
    cache = open_cache() if config.cache.enabled else None
    try:
        try:
            orchestrator = Orchestrator(config, Workspace(root), llm, cache)
        except ValueError as error:  # agent.tools names a tool that does not exist
            raise UsageError(f"agent.tools: {error}") from None
        with choose_display(args) as display:
            result = run_interruptibly(orchestrator, request, display)
    finally:
        if cache is not None:
            cache.close()
    return report(result, args)


def run_interruptibly(orchestrator: Orchestrator, request: Request, display: Display) -> RunResult:
    """Run in a worker thread so that the main thread can take Ctrl-C and draw progress.

    The first Ctrl-C cancels the run, which returns what finished; a second one
    exits at once, for when something does not stop.
    """
    cancel = CancelToken()
    progress = Progress()
    unsubscribe = progress.subscribe(display.update)
    display.update(progress.snapshot())
    outcome: list[RunResult | BaseException] = []

    def work() -> None:
        try:
            outcome.append(orchestrator.run(request, cancel=cancel, progress=progress))
        except BaseException as error:  # handed to the main thread, which re-raises it
            outcome.append(error)

    worker = threading.Thread(target=work, name="deepthink-run", daemon=True)
    with CtrlC() as interrupts:
        worker.start()
        while worker.is_alive():
            if interrupts.pressed and not cancel.cancelled:
                cancel.cancel()
                display.cancelling()
            display.refresh()
            worker.join(POLL_SECONDS)
    unsubscribe()
    display.refresh()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


class CtrlC:
    """Counts SIGINTs while installed; the handler only records, the main loop acts.

    Cancelling takes locks the interrupted code may hold, so it must not happen
    inside the handler itself. The second press ends the process on the spot.
    """

    def __init__(self) -> None:
        self.pressed = 0
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        # Handlers can only be installed from the main thread (main() may run elsewhere).
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            # None means a handler not set from Python; the default is the closest match.
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.pressed += 1
        if self.pressed >= 2:
            # Show the cursor the live display hid; os.write is safe in a signal handler.
            os.write(2, b"\x1b[?25h\n" if sys.stderr.isatty() else b"\n")
            os.write(2, f"{PROG}: interrupted\n".encode())
            os._exit(EXIT_CANCELLED)
