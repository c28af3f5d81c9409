"""`deepthink` as a child process, as a shell runs it: the only honest way to test Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(env: dict[str, str]) -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "SYSTEMROOT") if name in os.environ}
    return {**keep, **env, "PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": "100"}


def start_deepthink(arguments: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`deepthink ARGUMENTS` with its output on pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *arguments],
        cwd=cwd,
        env=subprocess_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def killed_on_failure(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class LineReader:
    """Reads a child's pipe in the background, so a test can wait for a line without blocking."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def wait_for(self, text: str, timeout: float = 30) -> None:
        with self._changed:
            found = self._changed.wait_for(
                lambda: self._ended or any(text in line for line in self.lines), timeout
            )
            assert found and any(text in line for line in self.lines), self.lines

    def rest(self, timeout: float = 30) -> str:
        """Everything the pipe carried, once it has ended."""
        with self._changed:
            assert self._changed.wait_for(lambda: self._ended, timeout), self.lines
            return "".join(self.lines)

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()
