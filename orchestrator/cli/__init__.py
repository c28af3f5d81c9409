"""The `deepthink` command: explain, review or question code from a terminal.

Everything here translates between the terminal and the engine: arguments and
files become a Request, progress snapshots become a live table (or plain lines
when stderr is not a terminal), and the RunResult becomes text and an exit code.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from orchestrator.cli.arguments import build_parser
from orchestrator.cli.running import execute
from orchestrator.cli.settings import api_key, clear_cache, load_cli_config
from orchestrator.cli.shell import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_USAGE,
    NothingToReview,
    UsageError,
    show_library_warnings,
    warn,
)
from orchestrator.cli.target import (
    default_workspace,
    diff_request,
    explicit_workspace,
    file_request,
    git_toplevel,
    parse_target,
    read_source,
    relative_path,
)
from orchestrator.config import ConfigError
from orchestrator.llm import LLMClient
from orchestrator.request import Mode, Request


def main(argv: list[str] | None = None) -> int:
    show_library_warnings()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        return run_command(args)
    except (UsageError, ConfigError) as error:
        for line in str(error).splitlines():
            warn(line)
        return EXIT_USAGE
    except NothingToReview as error:
        warn(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:  # before the run started there is nothing to cancel
        warn("interrupted")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # The reader went away (`deepthink ... | head`): stop quietly, as filters do, and
        # keep the interpreter's final flush from failing on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def run_command(args: argparse.Namespace) -> int:
    if args.command == "cache":
        return clear_cache()
    if args.command == "eval":
        from orchestrator.eval.cli import run_eval

        return run_eval(args)
    mode = Mode(args.command)
    explicit_root = explicit_workspace(args.workspace)
    build: Callable[[], Request]
    if mode is Mode.REVIEW_DIFF:
        root = explicit_root or git_toplevel(Path.cwd())
        if root is None:
            raise UsageError("review-diff: not inside a git repository (use --workspace DIR)")
        config = load_cli_config(root, args)
        build = functools.partial(diff_request, root, args.rev_range, config)
    else:
        target = parse_target(args.target)
        file = target.file.resolve()
        text = read_source(file, args.target)
        root = explicit_root or default_workspace(file)
        config = load_cli_config(root, args)
        question = args.question.strip() if mode is Mode.ASK else None
        if mode is Mode.ASK and not question:
            raise UsageError("ask: the question is empty")
        where = relative_path(file, root)
        build = functools.partial(file_request, mode, target, text, where, question, config)
    llm = LLMClient(config.provider, api_key(config))
    llm.warm_up()  # the client's import (about a second) goes on while the request is built
    try:
        return execute(config, root, build(), args, llm)
    finally:
        llm.close()
