"""Progress as the run goes: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

import argparse
import queue
import sys
import time
from types import TracebackType
from typing import TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.cli.shell import PROG
from orchestrator.progress import WAITING_STEP, AgentState, AgentStatus, Phase, Snapshot

STATE_STYLES = {
    AgentState.QUEUED: "dim",
    AgentState.RUNNING: "cyan",
    AgentState.DONE: "green",
    AgentState.FAILED: "red",
    AgentState.TIMED_OUT: "yellow",
    AgentState.CANCELLED: "magenta",
}


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
    if after.stalled and not (before and before.stalled):
        lines.append(f"{WAITING_STEP}: other requests hold its turns")
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
