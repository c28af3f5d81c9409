"""The client's stream (stdin, or a TCP connection) as pygls reads it, ended with a logged
reason on framing it cannot survive."""

from __future__ import annotations

import logging
import re
from typing import BinaryIO, Protocol, cast

from pygls.lsp.server import LanguageServer

_log = logging.getLogger(__name__)

# A message of this size is no editor's: pygls would try to read it whole (a first message
# claiming 10^12 bytes ended in MemoryError).
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
_HEADER_SHOWN_BYTES = 80
_CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d+)\r\n$")


class Reader(Protocol):
    """The two calls pygls reads stdin with (pygls/io_.py, `StdinAsyncReader`)."""

    def readline(self) -> bytes: ...

    def read(self, n: int, /) -> bytes: ...


def serve(server: LanguageServer, reader: Reader, writer: BinaryIO) -> None:
    """Serve one client over `reader` and `writer` (stdio, or a TCP connection)."""
    # pygls types its input as BinaryIO but only reads it with readline() and read().
    server.start_io(cast(BinaryIO, CheckedStdin(reader)), writer)


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
