"""Language-server figures: start-up, memory, request latency under load, cancel latency.

The real server (`python -m server`) runs as a subprocess over stdio; the scripted LLM
server runs in another process. Jobs are held open by scripted delays and by answers
streamed at about 50 chunks a second per agent, as a fast hosted model streams tokens.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import scenarios
from tests.benchmarks.llm_process import LLMServerProcess
from tests.benchmarks.lsp_client import LSPServerProcess, Notification, cpu_seconds, memory_kib
from tests.llm_server import Reply, ScriptedLLMServer, ToolCall
from tests.lsp_harness import PROJECT_ROOT, server_env

AGENTS = 4
JOBS = 4
SAMPLES = 300  # of each request kind, per condition
SAMPLE_GAP = 0.005  # seconds between requests: sampled over time, not a flood
STARTS = 5
SOURCE = (PROJECT_ROOT / "orchestrator" / "engine.py").read_text()
SELECTION = {"start": {"line": 60, "character": 0}, "end": {"line": 70, "character": 0}}
HOVER_LINE = 65

# Jobs on `warm.py` finish at once (they leave a hover behind); jobs on `timed*.py` take the
# TIMED_* latencies; all others are held open.
WARM_FILE = "warm.py"
TIMED_DECOMPOSE, TIMED_AGENT, TIMED_SYNTHESIS = 0.2, 0.3, 0.2
USER_PAUSE = 1.0  # seconds from the server's start to the first job: selecting the code
READY_FILE = "ready.py"  # opened on every start, for the first request
DECOMPOSE_DELAY = 0.3
TOOL_TURN_DELAY = 0.3
STREAM_CHUNK_DELAY = 0.02
LONG_ANSWER = "The divisor may be zero, see `engine.py:12`. " * 200  # 1600 chunks, ~30 s


def script(llm: ScriptedLLMServer) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        text = json.dumps(body["messages"])
        warm = WARM_FILE in text
        if "timed" in text:
            if scenarios.is_agent(body):
                return Reply(content="It runs the agents (`engine.py:12`).", delay=TIMED_AGENT)
            if scenarios.SYNTHESIS in text:
                return Reply(content="It runs the agents.", delay=TIMED_SYNTHESIS)
            return Reply(content=scenarios.plan(AGENTS), delay=TIMED_DECOMPOSE)
        if scenarios.is_agent(body):
            if warm:
                return Reply(content="It runs the agents in parallel (`engine.py:12`).")
            if not any(message["role"] == "tool" for message in body["messages"]):
                call = ToolCall("read_file", {"path": "job1.py", "end_line": 40})
                return Reply(tool_calls=[call], delay=TOOL_TURN_DELAY)
            return Reply(content=LONG_ANSWER, chunk_delay=STREAM_CHUNK_DELAY)
        if scenarios.SYNTHESIS in text:
            return Reply(content="## Summary\nIt runs the agents in parallel (`engine.py:12`).")
        return Reply(content=scenarios.plan(AGENTS), delay=0 if warm else DECOMPOSE_DELAY)

    llm.add(None, reply)


# --- one server session ----------------------------------------------------------------------


@dataclass
class Session:
    server: LSPServerProcess
    llm: LLMServerProcess
    root: Path

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def open(self, name: str) -> str:
        (self.root / name).write_text(SOURCE)
        uri = self.uri(name)
        item = {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}
        self.server.notify("textDocument/didOpen", {"textDocument": item})
        return uri

    async def run(self, uri: str) -> str:
        """Start a deep think; returns its progress token."""
        arguments = {"uri": uri, "range": SELECTION, "mode": "explain", "output": "hover"}
        reply = await self.server.request(
            "workspace/executeCommand", {"command": "deepthink.run", "arguments": [arguments]}
        )
        assert reply["status"] == "running", reply
        token: str = reply["job"]
        return token

    async def ended(self, token: str) -> Notification:
        def end() -> Notification | None:
            return next(
                (n for n in self.server.progress(token) if n.params["value"]["kind"] == "end"),
                None,
            )

        found: Notification = await self.server.wait_for(f"the end of {token}", end)
        return found

    def cancel(self, token: str) -> None:
        self.server.notify("window/workDoneProgress/cancel", {"token": token})


@dataclass(frozen=True)
class StartFigures:
    """Seconds from spawning the server to the `initialize` answer, and to the first request's."""

    initialize: float
    ready: float


@dataclass(frozen=True)
class FirstJobFigures:
    """Seconds from `deepthink.run` to the progress end: a fresh server's first job, and the
    same job again on that server."""

    first: float
    warm: float


async def start_server(
    llm: LLMServerProcess, home: Path, root: Path
) -> tuple[Session, StartFigures]:
    """A server, initialized, with a file open, and how long it took."""
    env = server_env(llm, home)
    started = time.monotonic()
    server = await LSPServerProcess.start([sys.executable, "-m", "server"], env, home / "log")
    await server.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": {
                "window": {"workDoneProgress": True},
                "workspace": {"configuration": True, "applyEdit": True},
                "textDocument": {"hover": {"contentFormat": ["markdown"]}},
            },
            "initializationOptions": {
                "orchestrator": {"parallel_agents": AGENTS},
                "cache": {"enabled": False},
            },
        },
    )
    initialized = time.monotonic() - started
    server.notify("initialized", {})
    session = Session(server, llm, root)
    document = {"uri": session.open(READY_FILE)}
    action = {"textDocument": document, "range": SELECTION, "context": {"diagnostics": []}}
    assert await server.request("textDocument/codeAction", action), "no code actions"
    ready = time.monotonic() - started
    assert not server.unexpected_responses, server.unexpected_responses  # one answer each
    return session, StartFigures(initialized, ready)


# --- measurements ----------------------------------------------------------------------------


async def first_and_warm_job(session: Session) -> FirstJobFigures:
    """The first job a user runs on a new server, a moment after it started, then again."""
    await asyncio.sleep(USER_PAUSE)
    seconds = []
    for name in ("timed_first.py", "timed_again.py"):
        uri = session.open(name)
        started = time.monotonic()
        await session.ended(await session.run(uri))
        seconds.append(time.monotonic() - started)
    return FirstJobFigures(*seconds)


async def request_latencies(session: Session, uri: str) -> dict[str, list[float]]:
    """Seconds per hover and per codeAction, interleaved."""
    document = {"uri": uri}
    hover = {"textDocument": document, "position": {"line": HOVER_LINE, "character": 0}}
    action = {"textDocument": document, "range": SELECTION, "context": {"diagnostics": []}}
    seconds: dict[str, list[float]] = {"hover": [], "codeAction": []}
    for _ in range(SAMPLES):
        for method, params in (("hover", hover), ("codeAction", action)):
            started = time.monotonic()
            result = await session.server.request(f"textDocument/{method}", params)
            seconds[method].append(time.monotonic() - started)
            assert result, f"{method} answered nothing"
            await asyncio.sleep(SAMPLE_GAP)
    return seconds


@dataclass(frozen=True)
class CancelFigures:
    progress_end: float
    agents_stopped: float | None  # None: no agent had started
    requests_settled: float
    requests_after: int


_AGENTS = re.compile(r"(?P<finished>\d+)/(?P<all>\d+) agents")


def _agents_stopped(notification: Notification) -> bool:
    """A progress report saying no agent is queued or running any more."""
    value = notification.params["value"]
    if value["kind"] != "report":
        return False
    agents = _AGENTS.match(value.get("message", ""))  # e.g. '4/4 agents · 1.2k tok · 3 s'
    return agents is not None and agents["finished"] == agents["all"]


async def cancel_jobs(session: Session, tokens: list[str]) -> CancelFigures:
    """Cancel the jobs as the user would, all at once; time what follows."""
    cancelled = time.monotonic()
    for token in tokens:
        session.cancel(token)
    settled = asyncio.ensure_future(asyncio.to_thread(session.llm.wait_settled))
    ends = [await session.ended(token) for token in tokens]
    settled_at = await settled
    await asyncio.sleep(0.3)  # a request sent late must have time to arrive
    requests = await asyncio.to_thread(session.llm.requests)
    stopped: list[float] = []
    for token in tokens:
        progress = session.server.progress(token)
        had_agents = any(_AGENTS.match(n.params["value"].get("message", "")) for n in progress)
        stop = next(
            (n.received for n in progress if n.received >= cancelled and _agents_stopped(n)), None
        )
        if had_agents:
            # Unreported: the end of the progress is the first the client hears of it.
            stopped.append(stop if stop is not None else max(n.received for n in ends))
    return CancelFigures(
        progress_end=max(n.received for n in ends) - cancelled,
        agents_stopped=max(stopped) - cancelled if stopped else None,
        requests_settled=settled_at - cancelled,
        requests_after=sum(r.started > cancelled for r in requests),
    )


CANCEL_MOMENTS = (  # (what is happening, LLM requests received since the job started)
    ("decomposing", 1),
    ("agents waiting for a tool turn", 1 + AGENTS),
    ("agents streaming answers", 1 + 2 * AGENTS),
)


def pygls_import_seconds() -> float:
    """What any pygls server pays before it can answer: starting Python and importing pygls."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import pygls.lsp.server"], check=True)
    return time.monotonic() - started


@dataclass
class ServerFigures:
    starts: list[StartFigures] = field(default_factory=list)
    first_jobs: list[FirstJobFigures] = field(default_factory=list)
    pygls_imports: list[float] = field(default_factory=list)
    idle_rss_kib: int = 0
    peak_rss_kib: int = 0
    idle: dict[str, list[float]] = field(default_factory=dict)  # seconds per request kind
    busy: dict[str, list[float]] = field(default_factory=dict)
    busy_cpu: float = 0.0  # the server's CPU use while `busy` was measured, in cores
    cancels: dict[str, list[CancelFigures]] = field(default_factory=dict)


async def measure(repeats: int) -> ServerFigures:
    with (
        tempfile.TemporaryDirectory(prefix="deepthink-bench-") as temp,
        LLMServerProcess(script) as llm,
    ):
        root = Path(temp) / "project"
        root.mkdir()
        figures = ServerFigures()
        for start in range(STARTS):
            home = Path(temp) / f"home{start}"
            home.mkdir()
            session, timing = await start_server(llm, home, root)
            figures.starts.append(timing)
            figures.first_jobs.append(await first_and_warm_job(session))
            await session.server.close()
            figures.pygls_imports.append(pygls_import_seconds())
        session, _ = await start_server(llm, home, root)
        try:
            await _measure_session(session, figures, repeats)
        except BaseException:
            print((home / "log").read_text()[-3000:], file=sys.stderr)  # the server's side
            raise
        finally:
            await session.server.close()
        return figures


async def _measure_session(session: Session, figures: ServerFigures, repeats: int) -> None:
    server, llm = session.server, session.llm
    warm = session.open(WARM_FILE)
    await asyncio.sleep(0.5)  # settle after start
    figures.idle_rss_kib = memory_kib(server.pid)["VmRSS"]
    await session.ended(await session.run(warm))  # leaves a hover on the selection
    figures.idle = await request_latencies(session, warm)

    uris = [session.open(f"job{n}.py") for n in range(1, JOBS + 1)]
    before = len(await asyncio.to_thread(llm.requests))
    tokens = [await session.run(uri) for uri in uris]
    await asyncio.to_thread(llm.wait_for_requests, before + JOBS * (1 + 2 * AGENTS))
    cpu_before, started = cpu_seconds(server.pid), time.monotonic()
    figures.busy = await request_latencies(session, warm)
    figures.busy_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - started)
    figures.peak_rss_kib = memory_kib(server.pid)["VmHWM"]
    everything = await cancel_jobs(session, tokens)
    figures.cancels[f"{JOBS} jobs of {AGENTS} agents streaming, all cancelled"] = [everything]

    target = session.open("cancel.py")
    for moment, received in CANCEL_MOMENTS:
        for _ in range(repeats):
            before = len(await asyncio.to_thread(llm.requests))
            token = await session.run(target)
            await asyncio.to_thread(llm.wait_for_requests, before + received)
            if moment == "agents streaming answers":
                await asyncio.sleep(0.2)  # well into the streams
            figures.cancels.setdefault(moment, []).append(await cancel_jobs(session, [token]))


# --- the tables ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _median_ms(seconds: Iterable[float]) -> str:
    return _ms(statistics.median(seconds))


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def tables(figures: ServerFigures) -> str:
    lines = [
        f"| request | p50, idle (ms) | p99, idle (ms) | p50, {JOBS} jobs (ms) "
        f"| p99, {JOBS} jobs (ms) | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for method in ("hover", "codeAction"):
        idle, busy = figures.idle[method], figures.busy[method]
        cells = [_ms(_percentile(v, p)) for v in (idle, busy) for p in (50, 99)]
        lines.append(f"| {method} | " + " | ".join(cells) + " | p99 < 20 ms |")
    lines += [
        "",
        f"The server used {figures.busy_cpu:.0%} of a core while the {JOBS} jobs ran.",
        "",
        "Cancel: the worst of each row's cancels, timed from the client's "
        "`window/workDoneProgress/cancel`.",
        "",
        "| cancelled while | progress end (ms) | last agent stopped (ms) "
        "| last LLM request settled (ms) | requests after cancel |",
        "|---|---:|---:|---:|---:|",
    ]
    for moment, samples in figures.cancels.items():
        stopped = [s.agents_stopped for s in samples if s.agents_stopped is not None]
        lines.append(
            f"| {moment} | {_ms(max(s.progress_end for s in samples))} | "
            f"{_ms(max(stopped)) if stopped else '—'} | "
            f"{_ms(max(s.requests_settled for s in samples))} | "
            f"{sum(s.requests_after for s in samples)} |"
        )
    starts, jobs = figures.starts, figures.first_jobs
    first = statistics.median(job.first for job in jobs)
    warm = statistics.median(job.warm for job in jobs)
    lines += [
        "",
        "| server start → | `initialize` answered (ms) | first request answered (ms) |",
        "|---|---:|---:|",
        f"| deepthink-lsp | {_median_ms(s.initialize for s in starts)} | "
        f"{_median_ms(s.ready for s in starts)} |",
        f"| (Python starting and importing pygls: `python -c 'import pygls.lsp.server'`) | "
        f"{_median_ms(figures.pygls_imports)} | |",
        "",
        f"Medians of {len(starts)} starts. The first request is a codeAction after "
        "`initialized` and `didOpen`.",
        "",
        "| first job on a fresh server (s) | the same job again (s) | first / again | target |",
        "|---:|---:|---:|---|",
        f"| {first:.3f} | {warm:.3f} | {first / warm:.2f} | ≤ 1.10 |",
        "",
        f"Medians of {len(jobs)} servers; each job starts {USER_PAUSE:g} s after the server was "
        "initialized, as a user selects code, and its scripted latencies add up to "
        f"{TIMED_DECOMPOSE + TIMED_AGENT + TIMED_SYNTHESIS:.1f} s.",
        "",
        f"| idle RSS (MiB) | peak RSS, {JOBS} jobs of {AGENTS} agents (MiB) |",
        "|---:|---:|",
        f"| {figures.idle_rss_kib / 1024:.0f} | {figures.peak_rss_kib / 1024:.0f} |",
    ]
    return "\n".join(lines)
