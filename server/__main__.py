"""`deepthink-lsp`: serve LSP on stdio (the default) or on a TCP port."""

from __future__ import annotations

import argparse
import logging
import sys

from server import __version__
from server.server import create_server
from server.stdio import serve
from server.tcp import serve_tcp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="deepthink-lsp",
        description="Deep-think code actions (explain, review, ask) as a language server.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--tcp",
        nargs=2,
        metavar=("HOST", "PORT"),
        help="listen on HOST PORT instead of talking over stdin/stdout",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="what the server logs to stderr (default: INFO)",
    )
    args = parser.parse_args(argv)
    # stdout carries the protocol: every log line goes to stderr.
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_level != "DEBUG":
        # pygls logs every message it sends at INFO, document text included, and the HTTP
        # client every request: the editor's log would drown in them.
        for noisy in ("pygls", "httpx", "httpx2", "httpcore", "openai"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.tcp:
        host, port = args.tcp
        try:
            port_number = int(port)
        except ValueError:
            parser.error(f"--tcp: PORT must be a number, got {port!r}")
        serve_tcp(create_server(), host, port_number)
    else:
        serve(create_server(), sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
