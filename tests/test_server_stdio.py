"""The server over stdio and TCP: framing it cannot read stops it with the reason, never a
crash."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
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


HOSTILE_HEADERS = pytest.mark.parametrize(
    ("header", "logged"),
    [
        (b"Content-Length: 1000000000000\r\n", "a message of 1000000000000 bytes, over the limit"),
        (b"Content-Length: twelve\r\n", "a header pygls cannot read: b'Content-Length: twelve"),
        (b"content-length: 2\r\n", "a header pygls cannot read: b'content-length: 2"),
    ],
    ids=["10^12 bytes", "not a number", "lower case"],
)


@HOSTILE_HEADERS
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


@HOSTILE_HEADERS
def test_framing_pygls_cannot_survive_stops_a_tcp_server_too(
    header: bytes, logged: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--tcp", "127.0.0.1", str(port)],
        stderr=subprocess.PIPE,
        env={**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)},
    )
    try:
        client = connect(port)
        with client:
            client.sendall(header + b"\r\n{}" + framed(INITIALIZE))
            client.settimeout(60)
            answered = client.recv(1024)
        _, stderr = server.communicate(timeout=60)
    finally:
        server.kill()
    assert logged in stderr.decode() and "stopping, as the next message cannot be found" in (
        stderr.decode()
    )
    assert "MemoryError" not in stderr.decode() and "Traceback" not in stderr.decode()
    assert answered == b"", "nothing read after the bad header is answered"
    assert server.returncode == 0


def connect(port: int) -> socket.socket:
    """A connection to the server, once it listens."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port))
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
