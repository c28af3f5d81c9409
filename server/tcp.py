"""`--tcp`: one client on a TCP port, served through the same checked reader as stdio.

pygls' own `start_tcp` reads with an asyncio stream that takes whatever Content-Length a
header names (10^12 bytes end in MemoryError) and cannot be wrapped. So the connection is
read the way stdin is: `start_io` over the socket, through `CheckedStdin`. Like `start_tcp`,
it serves the first client that connects, and stops when that client goes.
"""

from __future__ import annotations

import logging
import socket

from pygls.lsp.server import LanguageServer

from server.stdio import serve

_log = logging.getLogger(__name__)


def serve_tcp(server: LanguageServer, host: str, port: int) -> None:
    with socket.create_server((host, port)) as listener:
        _log.info("listening for a client on %s:%s", host, listener.getsockname()[1])
        connection, client = listener.accept()
    _log.info("client connected from %s:%s", *client[:2])
    with connection, connection.makefile("rb") as reader, connection.makefile("wb") as writer:
        try:
            serve(server, reader, writer)
        except ConnectionError as error:
            _log.error("the connection to the client was lost (%s); stopping", error)
