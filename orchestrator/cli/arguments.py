"""The command line: subcommands and options."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.cli.shell import PROG
from orchestrator.request import Mode


def build_parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--workspace",
        metavar="DIR",
        type=Path,
        help=(
            "workspace root the agents may read (default: the git repository holding the file, "
            "else the current directory)"
        ),
    )
    options.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="an extra YAML config layer, applied after the workspace's .deepthink.yaml",
    )
    options.add_argument(
        "--agents",
        metavar="N",
        type=int,
        help="number of parallel agents (orchestrator.parallel_agents)",
    )
    options.add_argument(
        "--model",
        metavar="NAME",
        help="model to use (provider.model; council.models, if configured, still assigns agents)",
    )
    options.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        help="time limit of each agent (orchestrator.task_timeout)",
    )
    options.add_argument(
        "--strategy",
        choices=("heavy", "single"),
        help="heavy: agents and synthesis; single: one call, as a baseline (orchestrator.strategy)",
    )
    options.add_argument(
        "--no-cache",
        action="store_true",
        help="ask the model even if the result cache holds an answer (cache.enabled: false)",
    )
    options.add_argument(
        "--json", action="store_true", help="print the result as JSON on stdout instead of text"
    )
    options.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress and no usage summary on stderr; warnings and errors still appear",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Multi-agent deep think about code: explain, review or ask.",
        epilog=(
            "FILE[:START-END] selects 1-based inclusive lines (FILE:N is one line; "
            "no range is the whole file). Key: DEEPTHINK_API_KEY or OPENAI_API_KEY; endpoint: "
            "DEEPTHINK_BASE_URL. Exit codes: 0 done (or partial, with warnings), 1 failed, "
            "2 usage or configuration error, 130 cancelled with Ctrl-C."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    target_help = "file, optionally with lines: FILE:START-END or FILE:LINE"
    for mode, what in (
        (Mode.EXPLAIN, "explain what code does, how and why"),
        (Mode.REVIEW, "review code: bugs, risks, improvements"),
        (Mode.ASK, "answer a question about code"),
    ):
        command = commands.add_parser(mode.value, parents=[options], help=what)
        command.add_argument("target", metavar="FILE[:START-END]", help=target_help)
        if mode is Mode.ASK:
            command.add_argument("question", help="the question, quoted")
    diff = commands.add_parser(Mode.REVIEW_DIFF.value, parents=[options], help="review a git diff")
    diff.add_argument(
        "rev_range",
        metavar="GIT-REV-RANGE",
        nargs="?",
        help=(
            "revisions to diff, e.g. HEAD~1..HEAD or main...feature (default: uncommitted "
            "changes to tracked files, git diff HEAD)"
        ),
    )
    cache = commands.add_parser("cache", help="manage the result cache")
    cache.add_argument("action", choices=["clear"], help="clear: forget every stored result")
    # Imported here, not at the top: the eval command's module builds on this one.
    from orchestrator.eval.cli import add_eval_parser

    add_eval_parser(commands)
    return parser
