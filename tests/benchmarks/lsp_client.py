"""A minimal LSP client over stdio that timestamps every message it receives.

The benchmarks measure the server, not a client library: this client does no type
conversion, answers the few requests the server makes (progress, configuration,
registration, edits) at once, and records notifications with their arrival time
(`time.monotonic()`, comparable with the scripted LLM server's clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 30.0


@dataclass(frozen=True)
class Notification:
    received: float  # time.monotonic()
    method: str
    params: Any


class LSPServerProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.notifications: list[Notification] = []
        self.unexpected_responses: list[Any] = []  # to no request in flight, e.g. a second one
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, command: list[str], env: dict[str, str], log: Path) -> LSPServerProcess:
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    # --- sending -------------------------------------------------------------------------

    async def request(self, method: str, params: Any) -> Any:
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await asyncio.wait_for(future, TIMEOUT)

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    # --- receiving -----------------------------------------------------------------------

    async def wait_for(self, what: str, found: Any, timeout: float = TIMEOUT) -> Any:
        """Wait until `found()` returns something truthy, re-checking on every message."""
        deadline = time.monotonic() + timeout
        while not (value := found()):
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"waited {timeout} s for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return value

    def progress(self, token: str) -> list[Notification]:
        return [
            n for n in self.notifications if n.method == "$/progress" and n.params["token"] == token
        ]

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            try:
                header = await stdout.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            length = next(
                int(line.split(b":")[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            message = json.loads(await stdout.readexactly(length))
            received = time.monotonic()
            if "method" not in message:
                future = self._pending.pop(message["id"], None)
                if future is None:
                    self.unexpected_responses.append(message)
                elif not future.done():
                    if "error" in message:
                        future.set_exception(RuntimeError(str(message["error"])))
                    else:
                        future.set_result(message.get("result"))
            elif "id" in message:
                self._answer(message)
            else:
                self.notifications.append(
                    Notification(received, message["method"], message.get("params"))
                )
            self._changed.set()

    def _answer(self, message: dict[str, Any]) -> None:
        """What an editor answers to the server's requests."""
        method = message["method"]
        result: Any = None
        if method == "workspace/configuration":
            result = [{} for _ in message["params"]["items"]]
        elif method == "workspace/applyEdit":
            result = {"applied": True}
        self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    # --- ending --------------------------------------------------------------------------

    async def close(self) -> None:
        try:
            await self.request("shutdown", None)
            self.notify("exit", None)
            await asyncio.wait_for(self.process.wait(), TIMEOUT)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            self._reader.cancel()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
