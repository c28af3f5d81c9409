"""The server over stdio: framing it cannot read stops it with the reason, never a crash."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.stdio import CheckedStdin

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"processId": None, "capabilities": {}},
}


def framed(message: dict[str, Any], *headers: bytes) -> bytes:
    body = json.dumps(message).encode()
    return b"".join(headers) + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize(
    ("header", "logged"),
    [
        (b"Content-Length: 1000000000000\r\n", "a message of 1000000000000 bytes, over the limit"),
        (b"Content-Length: twelve\r\n", "a header pygls cannot read: b'Content-Length: twelve"),
        (b"content-length: 2\r\n", "a header pygls cannot read: b'content-length: 2"),
    ],
    ids=["10^12 bytes", "not a number", "lower case"],
)
def test_framing_pygls_cannot_survive_stops_the_server_with_the_reason(
    header: bytes, logged: str, tmp_path: Path
) -> None:
    stopped = subprocess.run(
        [sys.executable, "-m", "server"],
        input=header + b"\r\n{}" + framed(INITIALIZE),
        capture_output=True,
        env={**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    stderr = stopped.stderr.decode()
    assert logged in stderr and "stopping, as the next message cannot be found" in stderr
    assert "MemoryError" not in stderr and "Traceback" not in stderr
    assert stopped.stdout == b"", "nothing read after the bad header is answered"


def test_good_framing_passes_through_untouched() -> None:
    sent = framed(INITIALIZE, b"Content-Type: x\r\n") + framed(INITIALIZE)
    stdin = CheckedStdin(io.BytesIO(sent))
    received = b""
    while line := stdin.readline():
        received += line
        if line == b"\r\n":
            received += stdin.read(len(json.dumps(INITIALIZE)))
    assert received == sent


def test_a_server_ends_cleanly_when_stdin_closes_at_once(tmp_path: Path) -> None:
    ended = subprocess.run(
        [sys.executable, "-m", "server"],
        input=b"",
        capture_output=True,
        env={**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert "Traceback" not in ended.stderr.decode()
