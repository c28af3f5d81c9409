"""What the command tells the shell: its name, exit codes, usage errors, warning lines."""

from __future__ import annotations

import logging
import sys

from orchestrator.result import RunStatus

PROG = "deepthink"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130  # 128 + SIGINT, as shells report a Ctrl-C

EXIT_CODES = {
    RunStatus.DONE: EXIT_OK,
    RunStatus.PARTIAL: EXIT_OK,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.CANCELLED: EXIT_CANCELLED,
}


class UsageError(Exception):
    """The command line or a file it names cannot be used; exit code 2."""


class NothingToReview(Exception):
    """An empty diff: the command was fine, but there was nothing to run (exit code 1)."""


def warn(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr, flush=True)


class _WarningLines(logging.Handler):
    """The engine's own warnings (a tool plugin that fails to load) as the CLI's own lines."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {error})"  # the traceback is for developers
        warn(f"{record.levelname.lower()}: {message}")


def show_library_warnings() -> None:
    engine = logging.getLogger("orchestrator")
    if not any(isinstance(handler, _WarningLines) for handler in engine.handlers):
        engine.addHandler(_WarningLines(logging.WARNING))
