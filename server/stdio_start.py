"""Serve on stdio, answering `initialize` from the cache while pygls is still being imported.

Importing pygls and lsprotocol takes most of a start (lsprotocol.types alone creates
hundreds of attrs classes). So a thread imports the server while this one reads the first
message itself; when it is an `initialize` with a kept result, the answer goes out at once.
pygls then reads the same message again and initializes exactly as it always does; the
server's protocol keeps that second answer to itself (`FirstInitialize`).

Imported before pygls: nothing here may import it, lsprotocol or the orchestrator.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, cast

from server import initialize_cache
from server.initialize_cache import FirstInitialize

_log = logging.getLogger(__name__)

# pygls 2.1.1's framing (pygls/io_.py, `run_async`): a header it would not take, neither do we.
_CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d+)\r\n$")


class Reader(Protocol):
    """The two calls pygls reads stdin with (pygls/io_.py, `StdinAsyncReader`)."""

    def readline(self) -> bytes: ...

    def read(self, n: int, /) -> bytes: ...


@dataclass(frozen=True)
class FirstMessage:
    raw: bytes  # every byte read, for pygls to read again
    body: bytes | None  # None: stdin ended first


def read_first_message(stdin: Reader) -> FirstMessage:
    """Read one message exactly as pygls' loop would, stopping where it would handle it."""
    raw = bytearray()
    length = 0
    while line := stdin.readline():
        raw += line
        if not length and (match := _CONTENT_LENGTH.fullmatch(line)):
            length = int(match[1])
        if length and not line.strip():
            body = stdin.read(length)
            raw += body
            return FirstMessage(bytes(raw), body)
    return FirstMessage(bytes(raw), None)


def initialize_request(body: bytes) -> tuple[int | str, dict[str, Any]] | None:
    """The id and client capabilities of an `initialize` request; None for anything else."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    match message:
        case {
            "jsonrpc": "2.0",
            "id": int() | str() as msg_id,
            "method": "initialize",
            "params": {"capabilities": dict() as capabilities},
        }:
            return msg_id, capabilities
    return None


def response(msg_id: int | str, result: object) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": result}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


# A message of this size is no editor's: pygls would try to read it whole (a first message
# claiming 10^12 bytes ended in MemoryError).
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
_HEADER_SHOWN_BYTES = 80


class CheckedStdin:
    """stdin, ended on framing that pygls' loop cannot survive, with a logged reason.

    pygls (io_.py, `run_async`) reads whatever length a Content-Length header names, and
    reads past a header it cannot parse as if it were not there, taking the body for headers
    from then on. Neither can be recovered from without guessing where the next message
    starts: the server stops, saying why, as at the end of its input.
    """

    def __init__(self, stdin: Reader) -> None:
        self._stdin = stdin
        self._ended = False

    def readline(self) -> bytes:
        if self._ended:
            return b""
        line = self._stdin.readline()
        if line[:15].lower() != b"content-length:":
            return line
        match = _CONTENT_LENGTH.fullmatch(line)
        if match is None:
            return self._end(f"a header pygls cannot read: {line[:_HEADER_SHOWN_BYTES]!r}")
        if int(match[1]) > MAX_MESSAGE_BYTES:
            return self._end(
                f"a message of {int(match[1])} bytes, over the limit of {MAX_MESSAGE_BYTES}"
            )
        return line

    def read(self, n: int, /) -> bytes:
        return b"" if self._ended else self._stdin.read(n)

    def _end(self, problem: str) -> bytes:
        _log.error("the client sent %s; stopping, as the next message cannot be found", problem)
        self._ended = True
        return b""


class ReplayedStdin:
    """stdin for pygls: the bytes read before it started, then the rest of the real stdin."""

    def __init__(self, replay: bytes, stdin: Reader) -> None:
        self._replay = io.BytesIO(replay)
        self._stdin = stdin

    def readline(self) -> bytes:
        line = self._replay.readline()
        return line if line.endswith(b"\n") else line + self._stdin.readline()

    def read(self, n: int, /) -> bytes:
        data = self._replay.read(n)
        return data if len(data) == n else data + self._stdin.read(n - len(data))


def serve_stdio() -> None:
    build = initialize_cache.build_identity()  # before the import competes for the GIL
    importer = threading.Thread(target=_import_server, name="import server", daemon=True)
    importer.start()
    stdin, stdout = CheckedStdin(sys.stdin.buffer), sys.stdout.buffer
    first = read_first_message(stdin)
    initialize = initialize_request(first.body) if first.body is not None else None
    pending = None
    if initialize is not None:
        msg_id, capabilities = initialize
        path = initialize_cache.cache_file(capabilities, build)
        pending = FirstInitialize(msg_id, path, initialize_cache.load(path))
        if pending.answered is not None:
            stdout.write(response(msg_id, pending.answered))
            stdout.flush()
            _log.info("answered initialize from %s", path)
    importer.join()
    from server.server import create_server  # the thread has imported it, or this raises why

    ls = create_server()
    ls.protocol.first_initialize = pending
    # pygls reads stdin with readline() and read(n) only (pygls/io_.py, StdinAsyncReader).
    ls.start_io(cast(BinaryIO, ReplayedStdin(first.raw, stdin)))


def _import_server() -> None:
    # A failed import is left to the main thread's import, which raises it with its traceback.
    with contextlib.suppress(Exception):
        import server.server  # noqa: F401
