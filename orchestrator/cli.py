"""The `deepthink` command: explain, review or question code from a terminal.

Everything here translates between the terminal and the engine: arguments and
files become a Request, progress snapshots become a live table (or plain lines
when stderr is not a terminal), and the RunResult becomes text and an exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import re
import signal
import sqlite3
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from orchestrator.cache import ResultCache, default_cache_path, is_unreadable, remove_database
from orchestrator.cancel import CancelToken
from orchestrator.config import (
    Config,
    ConfigError,
    MissingApiKey,
    Source,
    api_key_to_send,
    load_config,
    read_yaml_source,
)
from orchestrator.context import review_diff_request, selection_request, split_lines
from orchestrator.cost import cost_line
from orchestrator.engine import Orchestrator
from orchestrator.git import run_git
from orchestrator.llm import LLMClient
from orchestrator.progress import AgentState, AgentStatus, Phase, Progress, Snapshot
from orchestrator.request import Mode, Request
from orchestrator.result import Finding, RunResult, RunStatus
from orchestrator.workspace import BINARY_SNIFF_BYTES, Workspace

PROG = "deepthink"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130  # 128 + SIGINT, as shells report a Ctrl-C

EXIT_CODES = {
    RunStatus.DONE: EXIT_OK,
    RunStatus.PARTIAL: EXIT_OK,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.CANCELLED: EXIT_CANCELLED,
}

GIT_TIMEOUT = 30.0
MAX_FILE_BYTES = 8 * 1024 * 1024  # the whole file is read to pack its context
_LINE_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_DIFF_TARGET = re.compile(r"^\+\+\+ b/(.+)$", re.MULTILINE)
_POLL_SECONDS = 0.1  # how often the main thread looks at Ctrl-C and progress

STATE_STYLES = {
    AgentState.QUEUED: "dim",
    AgentState.RUNNING: "cyan",
    AgentState.DONE: "green",
    AgentState.FAILED: "red",
    AgentState.TIMED_OUT: "yellow",
    AgentState.CANCELLED: "magenta",
}


class UsageError(Exception):
    """The command line or a file it names cannot be used; exit code 2."""


class NothingToReview(Exception):
    """An empty diff: the command was fine, but there was nothing to run (exit code 1)."""


def main(argv: list[str] | None = None) -> int:
    _show_library_warnings()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        return run_command(args)
    except (UsageError, ConfigError) as error:
        for line in str(error).splitlines():
            _warn(line)
        return EXIT_USAGE
    except NothingToReview as error:
        _warn(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:  # before the run started there is nothing to cancel
        _warn("interrupted")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # The reader went away (`deepthink ... | head`): stop quietly, as filters do, and
        # keep the interpreter's final flush from failing on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


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


def run_command(args: argparse.Namespace) -> int:
    if args.command == "cache":
        return clear_cache()
    if args.command == "eval":
        from orchestrator.eval.cli import run_eval

        return run_eval(args)
    mode = Mode(args.command)
    explicit_root = _explicit_workspace(args.workspace)
    if mode is Mode.REVIEW_DIFF:
        root = explicit_root or git_toplevel(Path.cwd())
        if root is None:
            raise UsageError("review-diff: not inside a git repository (use --workspace DIR)")
        config = _load_config(root, args)
        request = diff_request(root, args.rev_range, config)
    else:
        target = parse_target(args.target)
        file = target.file.resolve()
        text = read_source(file, args.target)
        root = explicit_root or default_workspace(file)
        config = _load_config(root, args)
        question = args.question.strip() if mode is Mode.ASK else None
        if mode is Mode.ASK and not question:
            raise UsageError("ask: the question is empty")
        request = file_request(mode, target, text, _relative(file, root), question, config)
    return execute(config, root, request, args)


# --- what to think about ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """FILE[:START-END] as typed; no lines means the whole file."""

    file: Path
    start_line: int | None = None
    end_line: int | None = None


def parse_target(spec: str) -> Target:
    """Split FILE[:START-END]; a file whose own name ends in ':N' is taken whole."""
    name, colon, lines = spec.rpartition(":")
    if not colon or Path(spec).exists():
        if not spec:
            raise UsageError("no FILE given")
        return Target(Path(spec))
    if not name:
        raise UsageError(f"{spec}: no FILE before ':{lines}'")
    match = _LINE_RANGE.fullmatch(lines)
    if match is None:
        raise UsageError(
            f"{spec}: bad line range '{lines}': expected FILE:START-END or FILE:LINE (1-based)"
        )
    start = int(match[1])
    end = int(match[2] or match[1])
    if start < 1:
        raise UsageError(f"{spec}: lines are numbered from 1")
    if end < start:
        raise UsageError(f"{spec}: the range ends ({end}) before it starts ({start})")
    return Target(Path(name), start, end)


def read_source(file: Path, shown_as: str) -> str:
    """The text of a file to think about; binary, huge or unreadable files are usage errors."""
    try:
        status = file.stat()
        if stat.S_ISDIR(status.st_mode):
            raise UsageError(f"{shown_as}: is a directory, not a file")
        if not stat.S_ISREG(status.st_mode):  # a FIFO or device could block forever
            raise UsageError(f"{shown_as}: not a regular file")
        if status.st_size > MAX_FILE_BYTES:
            raise UsageError(f"{shown_as}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        data = file.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{shown_as}: no such file") from None
    except OSError as error:
        raise UsageError(f"{shown_as}: cannot read the file: {error.strerror}") from None
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise UsageError(f"{shown_as}: a binary file (it contains NUL bytes); give a text file")
    return data.decode("utf-8", errors="replace")


def file_request(
    mode: Mode, target: Target, text: str, path: str, question: str | None, config: Config
) -> Request:
    lines = split_lines(text)
    if lines[-1] == "":
        lines.pop()  # the final line break ends the last line; it does not start another
    if not lines:
        raise UsageError(f"{path}: the file is empty")
    start = target.start_line or 1
    end = target.end_line or len(lines)
    if end > len(lines):
        raise UsageError(f"{path} has {len(lines)} lines; lines {start}-{end} run past the end")
    return selection_request(
        mode, path, text, start, end, config.context.max_tokens, question=question
    )


def diff_request(root: Path, rev_range: str | None, config: Config) -> Request:
    diff = read_diff(root, rev_range)
    changed = set(_DIFF_TARGET.findall(diff))
    # With one changed file, findings without a path belong to it; otherwise to none.
    path = changed.pop() if len(changed) == 1 else ""
    return review_diff_request(path, diff, config.context.max_tokens)


def read_diff(root: Path, rev_range: str | None) -> str:
    if rev_range is not None and (not rev_range.strip() or rev_range.startswith("-")):
        raise UsageError(f"review-diff: '{rev_range}' is not a revision range")
    revision = rev_range or "HEAD"
    described = f"git diff {revision}"
    # `--` makes git read the range as revisions only, never as paths; no external diff
    # or textconv programs run, so the model sees exactly what changed in the files.
    result = _git(["diff", "--no-color", "--no-ext-diff", "--no-textconv", revision, "--"], root)
    if result.returncode != 0:
        problem = result.stderr.strip().splitlines()[:1] or [f"exit code {result.returncode}"]
        raise UsageError(f"review-diff: {described} failed: {problem[0]}")
    if not result.stdout.strip():
        raise NothingToReview(f"review-diff: nothing to review: {described} is empty")
    return result.stdout


# --- where the workspace is ----------------------------------------------------------------


def _explicit_workspace(directory: Path | None) -> Path | None:
    if directory is None:
        return None
    if not directory.is_dir():
        raise UsageError(f"--workspace {directory}: not a directory")
    return directory.resolve()


def default_workspace(file: Path) -> Path:
    """The git repository holding the file, else the current directory if it holds the file.

    A file outside both gets its own directory, so that the agents can still read it.
    """
    repository = git_toplevel(file.parent)
    if repository is not None:
        return repository
    cwd = Path.cwd().resolve()
    return cwd if file.is_relative_to(cwd) else file.parent


def git_toplevel(directory: Path) -> Path | None:
    try:
        result = _git(["rev-parse", "--show-toplevel"], directory)
    except UsageError:
        return None  # no git at all: not a repository either
    top = result.stdout.strip()
    return Path(top).resolve() if result.returncode == 0 and top else None


def _relative(file: Path, root: Path) -> str:
    if not file.is_relative_to(root):
        raise UsageError(f"{file} is outside the workspace {root}")
    return file.relative_to(root).as_posix()


def _git(arguments: list[str], cwd: Path) -> GitOutput:
    try:
        result = run_git(arguments, cwd, timeout=GIT_TIMEOUT, max_output=MAX_FILE_BYTES)
    except FileNotFoundError as error:
        raise UsageError(f"cannot run git in {cwd}: {error.strerror}") from None
    except NotADirectoryError:
        raise UsageError(f"cannot run git in {cwd}: not a directory") from None
    if result.timed_out:
        raise UsageError(f"git {arguments[0]} took more than {GIT_TIMEOUT:g} s")
    return GitOutput(
        result.returncode, result.stdout.decode("utf-8", errors="replace"), result.stderr
    )


@dataclass(frozen=True)
class GitOutput:
    returncode: int
    stdout: str
    stderr: str


# --- configuration and key -----------------------------------------------------------------


def _load_config(root: Path, args: argparse.Namespace) -> Config:
    overrides: list[Source] = []
    if args.config is not None:
        source = read_yaml_source(args.config)
        if source is None:
            raise UsageError(f"--config {args.config}: no such file")
        overrides.append(source)
    overrides.append(command_line_source(args))
    return load_config(root, overrides=overrides)


def command_line_source(args: argparse.Namespace) -> Source:
    values: dict[str, dict[str, Any]] = {}
    if args.model is not None:
        values.setdefault("provider", {})["model"] = args.model
    if args.agents is not None:
        values.setdefault("orchestrator", {})["parallel_agents"] = args.agents
    if args.timeout is not None:
        values.setdefault("orchestrator", {})["task_timeout"] = args.timeout
    # `deepthink eval` chooses its strategies itself, with --configs: it has no --strategy.
    if getattr(args, "strategy", None) is not None:
        values.setdefault("orchestrator", {})["strategy"] = args.strategy
    if args.no_cache:
        values["cache"] = {"enabled": False}
    return Source("command line", values)


# --- running ---------------------------------------------------------------------------------


def api_key(config: Config) -> str:
    """The key to send, or a usage error naming the variable to set."""
    try:
        return api_key_to_send(config)
    except MissingApiKey as error:
        raise UsageError(str(error)) from None


def execute(config: Config, root: Path, request: Request, args: argparse.Namespace) -> int:
    key = api_key(config)
    cache = open_cache() if config.cache.enabled else None
    llm = LLMClient(config.provider, key)
    try:
        try:
            orchestrator = Orchestrator(config, Workspace(root), llm, cache)
        except ValueError as error:  # agent.tools names a tool that does not exist
            raise UsageError(f"agent.tools: {error}") from None
        with choose_display(args) as display:
            result = run_interruptibly(orchestrator, request, display)
    finally:
        llm.close()
        if cache is not None:
            cache.close()
    return report(result, args)


def open_cache() -> ResultCache | None:
    """The result cache, or None with a warning: a broken cache must not stop the run."""
    try:
        return ResultCache()
    except (OSError, sqlite3.Error) as error:
        fix = " (`deepthink cache clear` replaces it)" if _unreadable(error) else ""
        _warn(f"warning: result cache unavailable, running without it: {error}{fix}")
        return None


def clear_cache() -> int:
    path = default_cache_path()
    try:
        cache = ResultCache(path)
        try:
            removed = cache.clear()
        finally:
            cache.close()
    except (OSError, sqlite3.Error) as error:
        if not _unreadable(error):  # locked, or no permission: deleting would not help
            _warn(f"cannot clear the result cache {path}: {error}")
            return EXIT_FAILED
        try:
            remove_database(path)
        except OSError as failure:
            _warn(f"cannot remove the unreadable result cache {path}: {failure.strerror}")
            return EXIT_FAILED
        print(f"removed the result cache {path}, which could not be read ({error})")
        return EXIT_OK
    print(f"removed {removed} cached result(s) from {path}")
    return EXIT_OK


def _unreadable(error: OSError | sqlite3.Error) -> bool:
    return isinstance(error, sqlite3.Error) and is_unreadable(error)


def run_interruptibly(orchestrator: Orchestrator, request: Request, display: Display) -> RunResult:
    """Run in a worker thread so that the main thread can take Ctrl-C and draw progress.

    The first Ctrl-C cancels the run, which returns what finished; a second one
    exits at once, for when something does not stop.
    """
    cancel = CancelToken()
    progress = Progress()
    unsubscribe = progress.subscribe(display.update)
    display.update(progress.snapshot())
    outcome: list[RunResult | BaseException] = []

    def work() -> None:
        try:
            outcome.append(orchestrator.run(request, cancel=cancel, progress=progress))
        except BaseException as error:  # handed to the main thread, which re-raises it
            outcome.append(error)

    worker = threading.Thread(target=work, name="deepthink-run", daemon=True)
    with _CtrlC() as interrupts:
        worker.start()
        while worker.is_alive():
            if interrupts.pressed and not cancel.cancelled:
                cancel.cancel()
                display.cancelling()
            display.refresh()
            worker.join(_POLL_SECONDS)
    unsubscribe()
    display.refresh()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


class _CtrlC:
    """Counts SIGINTs while installed; the handler only records, the main loop acts.

    Cancelling takes locks the interrupted code may hold, so it must not happen
    inside the handler itself. The second press ends the process on the spot.
    """

    def __init__(self) -> None:
        self.pressed = 0
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> _CtrlC:
        # Handlers can only be installed from the main thread (main() may run elsewhere).
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            # None means a handler not set from Python; the default is the closest match.
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.pressed += 1
        if self.pressed >= 2:
            # Show the cursor the live display hid; os.write is safe in a signal handler.
            os.write(2, b"\x1b[?25h\n" if sys.stderr.isatty() else b"\n")
            os.write(2, f"{PROG}: interrupted\n".encode())
            os._exit(EXIT_CANCELLED)


# --- progress displays -------------------------------------------------------------------------


class Display:
    """Shows nothing (--quiet); subclasses show progress.

    `update` is called from worker threads with the progress lock held, so it only
    stores; drawing happens in `refresh` on the main thread (or rich's own thread).
    """

    def update(self, snapshot: Snapshot) -> None:
        pass

    def cancelling(self) -> None:
        pass

    def refresh(self) -> None:
        pass

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass


def choose_display(args: argparse.Namespace) -> Display:
    if args.quiet:
        return Display()
    if sys.stderr.isatty() and not args.json:
        return LiveDisplay(Console(stderr=True))
    return LineDisplay(sys.stderr)


class LineDisplay(Display):
    """One line per change worth knowing, for logs and pipes: phases and finished agents."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._snapshots: queue.SimpleQueue[Snapshot] = queue.SimpleQueue()
        self._last: Snapshot | None = None

    def update(self, snapshot: Snapshot) -> None:
        self._snapshots.put(snapshot)

    def cancelling(self) -> None:
        self._say("cancelling… (press Ctrl-C again to quit at once)")

    def refresh(self) -> None:
        while not self._snapshots.empty():
            snapshot = self._snapshots.get()
            for line in state_changes(self._last, snapshot):
                self._say(line)
            self._last = snapshot

    def _say(self, line: str) -> None:
        print(f"{PROG}: {line}", file=self._stream, flush=True)


def state_changes(before: Snapshot | None, after: Snapshot) -> list[str]:
    """What changed between two snapshots, as lines; terminal phases are left to the summary."""
    lines = []
    if before is None or before.phase is not after.phase:
        if after.phase is Phase.DECOMPOSING:
            lines.append("decomposing the request")
        elif after.phase is Phase.RUNNING:
            count = len(after.agents)
            lines.append(f"running {count} agent{'' if count == 1 else 's'}")
        elif after.phase is Phase.SYNTHESISING:
            lines.append("synthesising")
        elif after.phase is Phase.RANKING:
            lines.append("ranking the answers")
        elif after.phase is Phase.VERIFYING:
            lines.append("verifying the findings")
    earlier = {agent.index: agent.state for agent in before.agents} if before else {}
    # While the plan still streams in, more agents may come: their number is not known yet.
    of_all = "" if after.phase is Phase.DECOMPOSING else f"/{len(after.agents)}"
    for agent in after.agents:
        if agent.state.finished and earlier.get(agent.index) is not agent.state:
            label = f"{agent.index + 1}{of_all} ({agent.role}, {agent.model})"
            lines.append(f"agent {label}: {_outcome(agent)}")
    return lines


def _outcome(agent: AgentStatus) -> str:
    seconds = f" after {_elapsed(agent, time.monotonic())}" if agent.started else ""
    if agent.state is AgentState.DONE:
        return f"done{seconds}"
    reason = f": {agent.error}" if _error_news(agent) else ""
    return f"{agent.state.value}{seconds}{reason}"


def _error_news(agent: AgentStatus) -> bool:
    """Whether the error says more than the state does ("cancelled" twice says nothing)."""
    return bool(agent.error) and agent.error != agent.state.value


class LiveDisplay(Display):
    """A table of agents redrawn in place on a terminal, by rich's refresh thread."""

    def __init__(self, console: Console) -> None:
        self._snapshot = Snapshot(Phase.DECOMPOSING, ())
        self._cancelling = False
        self._live = Live(
            console=console, get_renderable=self._render, refresh_per_second=8, transient=False
        )

    def update(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot  # one reference assignment: safe to read from another thread

    def cancelling(self) -> None:
        self._cancelling = True

    def __enter__(self) -> Display:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._live.stop()

    def _render(self) -> RenderableType:
        return render_progress(self._snapshot, time.monotonic(), self._cancelling)


def render_progress(snapshot: Snapshot, now: float, cancelling: bool) -> RenderableType:
    """The phase line and one row per agent: #, role, model, state, step, tokens, elapsed."""
    finished = snapshot.phase in (Phase.DONE, Phase.FAILED, Phase.CANCELLED)
    header = Text.assemble((f"{PROG} ", "bold"), snapshot.summary())
    if cancelling and not finished:
        header.append("  cancelling… (Ctrl-C again to quit at once)", style="bold yellow")
    else:
        header.append(f"  {snapshot.percentage}%", style="dim")
    if not snapshot.agents:
        return header
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("role", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("state", no_wrap=True)
    table.add_column("step", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("tokens", justify="right")
    table.add_column("elapsed", justify="right")
    for agent in snapshot.agents:
        style = STATE_STYLES[agent.state]
        table.add_row(
            str(agent.index + 1),
            agent.role,
            agent.model,
            Text(agent.state.value, style=style),
            Text(agent.error, style=style) if _error_news(agent) else agent.step,
            f"{agent.tokens:,}",
            _elapsed(agent, now) if agent.started else "",
        )
    return Group(header, table)


def _elapsed(agent: AgentStatus, now: float) -> str:
    started = agent.started if agent.started is not None else now
    return f"{(agent.finished or now) - started:.1f} s"


# --- the result ---------------------------------------------------------------------------------


def report(result: RunResult, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), flush=True)
    else:
        print_answer(result)
    label = "error" if result.status is RunStatus.FAILED else "warning"
    for failure in result.failures:
        _warn(f"{label}: {failure}")
    if result.status is RunStatus.CANCELLED and not result.markdown:
        _warn("cancelled before any agent finished")
    if not args.quiet:
        _warn(summary(result))
    return EXIT_CODES[result.status]


def print_answer(result: RunResult) -> None:
    markdown = result.markdown
    if result.status is RunStatus.CANCELLED and markdown:
        markdown = (
            "> **Cancelled** before the synthesis: these are the answers of the agents "
            f"that had finished.\n\n{markdown}"
        )
    if markdown:
        if sys.stdout.isatty():
            Console().print(Markdown(markdown))
        else:
            print(markdown)
    if result.findings:
        print()
        for finding in result.findings:
            print(finding_line(finding))
    sys.stdout.flush()


def finding_line(finding: Finding) -> str:
    """`path:line: severity: message (2/4 agents)`, the shape editors and compilers use."""
    where = f"{finding.path or '(diff)'}:{finding.start_line}"
    return f"{where}: {finding.severity}: {finding.message} {finding.agreement}".rstrip()


def summary(result: RunResult) -> str:
    usage = result.usage
    done = sum(agent.state is AgentState.DONE for agent in result.agents)
    agents = f", {done}/{len(result.agents)} agents done" if result.agents else ""
    cost = (
        f"{result.seconds:.1f} s{agents}, {usage.total_tokens:,} tokens "
        f"({usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion) "
        f"in {len(result.calls)} calls"
    )
    if result.phases:
        cost += f" ({cost_line(result.phases)})"
    if result.cached:
        return (
            f"{result.status.value} from the result cache (--no-cache asks again); it took {cost}"
        )
    return f"{result.status.value} in {cost}"


def _warn(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr, flush=True)


class _WarningLines(logging.Handler):
    """The engine's own warnings (a tool plugin that fails to load) as the CLI's own lines."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {error})"  # the traceback is for developers
        _warn(f"{record.levelname.lower()}: {message}")


def _show_library_warnings() -> None:
    engine = logging.getLogger("orchestrator")
    if not any(isinstance(handler, _WarningLines) for handler in engine.handlers):
        engine.addHandler(_WarningLines(logging.WARNING))
