"""The scripted LLM server in a child process, so that it does not compete for our GIL.

Every timestamp it records is `time.monotonic()`, which on Linux is one clock for all
processes: the benchmark compares them directly with its own.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from tests.llm_server import RecordedRequest, ScriptedLLMServer

Script = Callable[..., None]  # (server, *arguments): adds the rules


class LLMServerProcess:
    """Runs `script` on a ScriptedLLMServer in a child; calls are answered one at a time."""

    def __init__(self, script: Script, *arguments: Any) -> None:
        self._script = script
        self._arguments = arguments
        self._pipe: Connection | None = None
        self._process: multiprocessing.Process | None = None
        self.base_url = ""

    def __enter__(self) -> LLMServerProcess:
        ours, theirs = multiprocessing.Pipe()
        self._pipe = ours
        self._process = multiprocessing.Process(
            target=_serve, args=(self._script, self._arguments, theirs), daemon=True
        )
        self._process.start()
        self.base_url = ours.recv()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._pipe is not None and self._process is not None
        self._pipe.send(("stop", ()))
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def reset(self, *arguments: Any) -> None:
        """Forget every rule and request, and script the server again with these arguments."""
        self._call("reset", *arguments)

    def requests(self) -> list[RecordedRequest]:
        result: list[RecordedRequest] = self._call("requests")
        return result

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> None:
        self._call("wait_for_requests", count, timeout)

    def wait_settled(self, timeout: float = 30.0) -> float:
        """Wait until every request is finished or aborted; returns when that happened."""
        settled: float = self._call("wait_settled", timeout)
        return settled

    def _call(self, method: str, *args: Any) -> Any:
        assert self._pipe is not None
        self._pipe.send((method, args))
        ok, value = self._pipe.recv()
        if not ok:
            raise RuntimeError(f"scripted LLM server: {method}{args} failed: {value}")
        return value


def _serve(script: Script, arguments: tuple[Any, ...], pipe: Connection) -> None:
    with ScriptedLLMServer() as llm:
        script(llm, *arguments)
        pipe.send(llm.base_url)
        while True:
            method, args = pipe.recv()
            if method == "stop":
                return
            value: Any
            try:
                if method == "reset":
                    llm.clear()
                    script(llm, *args)
                    value = None
                elif method == "requests":
                    value = llm.requests
                elif method == "wait_for_requests":
                    value = len(llm.wait_for_requests(*args))
                elif method == "wait_settled":
                    llm.wait_settled(*args)
                    value = time.monotonic()
                else:
                    raise ValueError(f"unknown call {method}")
            except Exception as error:
                pipe.send((False, repr(error)))
            else:
                pipe.send((True, value))
