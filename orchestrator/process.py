"""Child processes (ripgrep, git) bounded in time and killed on cancel.

A tool blocked on a child process would otherwise hold its agent past a cancel or the
agent's own deadline, and a run waits for every agent. So each child is killed by a timer
at its time limit, and by the cancel token active on the calling thread (see
`cancel.active_token`); its output is read as a stream, so the caller can stop early.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.cancel import active_token

_STDERR_SHOWN_BYTES = 2000


@dataclass(frozen=True)
class Exit:
    """How a child ended: its code, the end of what it wrote to stderr, and who stopped it."""

    returncode: int
    stderr: str
    stopped_by: str | None  # "timeout" or "cancel" when we killed it; None otherwise


class Running:
    """A started child: read `stdout`, then `wait()` (or leave the `bounded` block to kill it)."""

    def __init__(self, process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        self._process = process
        self._stderr = stderr
        self._stopped_by: str | None = None
        self._lock = threading.Lock()
        assert process.stdout is not None
        self.stdout: IO[bytes] = process.stdout

    def stop(self, reason: str) -> None:
        with self._lock:
            if self._stopped_by is None and self._process.poll() is None:
                self._stopped_by = reason
                self._process.kill()

    def wait(self) -> Exit:
        returncode = self._process.wait()
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - _STDERR_SHOWN_BYTES))
        text = self._stderr.read().decode("utf-8", errors="replace")
        return Exit(returncode, text.strip(), self._stopped_by)


@contextmanager
def bounded(
    command: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    stdin: bytes | None = None,
) -> Iterator[Running]:
    """Start `command`, reading `stdin` (or nothing); it is killed after `timeout` seconds,
    on cancel, and on leaving.

    Raises FileNotFoundError when the program does not exist.
    """
    cancel = active_token()
    # stdin and stderr are files: a pipe written to, or not read, while stdout is read could
    # fill and block. No input is the null device: rg searches a stdin that is a file or pipe.
    with tempfile.TemporaryFile() as stderr, tempfile.TemporaryFile() as given:
        if stdin is not None:
            given.write(stdin)
            given.seek(0)
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL if stdin is None else given,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        running = Running(process, stderr)
        unregister = cancel.on_cancel(lambda: running.stop("cancel")) if cancel else None
        timer = threading.Timer(timeout, running.stop, args=("timeout",))
        timer.daemon = True
        timer.start()
        try:
            yield running
        finally:
            timer.cancel()
            if unregister is not None:
                unregister()
            running.stop("done")
            process.wait()
            running.stdout.close()
