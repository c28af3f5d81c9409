"""What the user reads about a job: progress texts, summaries and failure messages, and the
reporter that carries progress snapshots from worker threads to the client without flooding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

from orchestrator.cost import cost_line, count
from orchestrator.progress import WAITING_STEP, AgentState, Phase, Snapshot
from orchestrator.request import Mode
from orchestrator.result import AgentResult, Finding, RunResult, RunStatus

REPORT_INTERVAL = 0.1  # seconds between reports that only update token counts
_MAX_REASON_CHARS = 300


def begin_title(agents: int) -> str:
    return f"Deep think: {agents} agent{'s' if agents != 1 else ''}"


def begin_message(mode: Mode, path: str, start_line: int, end_line: int) -> str:
    lines = f"{start_line}" if start_line == end_line else f"{start_line}-{end_line}"
    return f"{mode.value} {path}:{lines}"


def report_message(snapshot: Snapshot, seconds: float) -> str:
    """Short enough for a statusline: e.g. '3/4 agents · 1.2k tok · 8 s'; a job whose
    requests all wait their turn at the endpoint (behind another job) says so instead of
    the token count, which does not move meanwhile."""
    elapsed = f"{seconds:.0f} s"
    if snapshot.phase is Phase.DECOMPOSING:
        return f"{WAITING_STEP if snapshot.stalled else 'planning'} · {elapsed}"
    tokens = f"{count(sum(agent.tokens for agent in snapshot.agents))} tok"
    agents = f"{snapshot.finished_agents}/{len(snapshot.agents)} agents"
    if snapshot.stalled:
        return f"{agents} · {WAITING_STEP} · {elapsed}"
    if snapshot.phase is Phase.SYNTHESISING:
        return f"{agents} · merging · {tokens} · {elapsed}"
    if snapshot.phase is Phase.RANKING:
        return f"{agents} · ranking · {tokens} · {elapsed}"
    if snapshot.phase is Phase.VERIFYING:
        return f"{agents} · verifying · {tokens} · {elapsed}"
    return f"{agents} · {tokens} · {elapsed}"


def report_details(snapshot: Snapshot) -> str:
    """For the log, e.g. 'running: 1 done, 1 running — security: done, tests: running
    (120 tokens)'; an agent waiting for its turn at the endpoint says so."""
    agents = ", ".join(
        f"{agent.role}: {agent.state.value}"
        + (f" ({agent.tokens} tokens)" if agent.tokens and not agent.state.finished else "")
        + (f" ({WAITING_STEP})" if agent.step == WAITING_STEP else "")
        for agent in snapshot.agents
    )
    return f"{snapshot.summary()} — {agents}" if agents else snapshot.summary()


def end_message(result: RunResult) -> str:
    """The one line the progress ends with."""
    if result.status is RunStatus.CANCELLED:
        return "cancelled"
    if result.status is RunStatus.FAILED:
        return f"failed: {_reasons(result)}"
    if result.cached:
        return "done: the same request was answered before (cached result)"
    answered = sum(agent.state is AgentState.DONE for agent in result.agents)
    tokens = result.usage.total_tokens
    outcome = "done" if result.status is RunStatus.DONE else "partly done"
    phases = f" ({cost_line(result.phases)})" if result.phases else ""
    return (
        f"{outcome} in {result.seconds:.0f} s: {answered} of {len(result.agents)} agents "
        f"answered, {tokens} tokens{phases}"
    )


def failure_message(result: RunResult) -> str:
    return f"Deep think failed: {_reasons(result)}"


def partial_message(result: RunResult) -> str:
    return f"Deep think finished with problems ({_reasons(result)}); showing what succeeded."


def agent_views(finding: Finding, agents: list[AgentResult]) -> str:
    """Each agent's own view of a finding, those that did not raise it too."""
    said = {view.agent: view.message for view in finding.views}
    lines = [f"Deep think: each agent's view of {finding.path}:{finding.start_line}"]
    if not finding.agents:
        lines.append("No agent raised it: the synthesis did, from their answers.")
    for agent in agents:
        number = agent.index + 1
        if number in said:
            view = said[number]
        elif agent.state is AgentState.DONE:
            view = "did not raise it"
        else:
            view = f"gave no answer ({agent.state.value})"
        lines.append(f"agent {number} ({agent.role}): {view}")
    return "\n".join(lines)


def hover_footer(result: RunResult) -> str:
    """Under the answer on hover: what went wrong or was left out, what the skeptic pass
    refuted, the peer ranking, the cost."""
    # A finished run's warnings (findings dropped as ungrounded, a plan filled from the
    # templates) are shown nowhere else in the editor: the hover stays, a message does not.
    parts = [f"*Warnings:* {_reasons(result)}"] if result.failures else []
    if result.rejected:
        refuted = "\n".join(
            f"- `{item.finding.path}:{item.finding.start_line}` {item.finding.message} "
            f"— *{item.reason}*"
            for item in result.rejected
        )
        parts.append(f"**Rejected by the skeptic pass** (not in the problems list):\n{refuted}")
    if result.ranking:
        places = ", ".join(
            f"agent {rank.agent} ({rank.average_place:.1f})" for rank in result.ranking
        )
        parts.append(f"*Peer ranking, best first (average place):* {places}")
    if result.phases:
        parts.append(f"*{cost_line(result.phases)}*")
    return "".join(f"\n\n---\n{part}" for part in parts)


def hover_heading(mode: Mode, question: str | None, result: RunResult) -> str:
    notes = [note for note, applies in _NOTES if applies(result)]
    heading = f"**Deep think: {mode.value}**" + "".join(f" — {note}" for note in notes)
    return heading + (f"\n\n*{question}*" if question else "") + "\n\n"


def comment_heading(mode: Mode, question: str | None) -> str:
    """The label above the comment's text, in words: 'Deep think — review:'."""
    label = f"Deep think — {_MODE_WORDS[mode]}:"
    return f"{label} {question}" if question else label


_MODE_WORDS = {
    Mode.EXPLAIN: "explanation",
    Mode.REVIEW: "review",
    Mode.ASK: "question",
    Mode.REVIEW_DIFF: "review of the changes",
}


_NOTES: tuple[tuple[str, Callable[[RunResult], bool]], ...] = (
    ("partial result", lambda result: result.status is RunStatus.PARTIAL),
    ("cached result", lambda result: result.cached),
)


def _reasons(result: RunResult) -> str:
    text = "; ".join(result.failures) or "no agent produced an answer"
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"


def states(snapshot: Snapshot) -> tuple[object, ...]:
    """What a report must not hold back: the phase, whether the job waits for the endpoint,
    and each agent's state and whether it waits."""
    return (
        snapshot.phase,
        snapshot.stalled,
        *((agent.state, agent.step == WAITING_STEP) for agent in snapshot.agents),
    )


class ProgressReporter:
    """Coalesces snapshots from worker threads into reports sent on the event loop.

    Only the latest snapshot matters: a change of phase or agent state is reported at
    once, token counts at most every `interval` seconds. Nothing is sent after `close`.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[Snapshot], None],
        interval: float = REPORT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = loop
        self._send = send
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None
        self._scheduled = False  # a flush is on its way to the loop or waiting there
        self._urgent = False  # ... and it is the immediate kind
        self._timer: asyncio.TimerHandle | None = None  # on the loop only
        self._closed = False
        self._sent_states: tuple[object, ...] = ()
        self._sent_at = float("-inf")

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """Progress subscriber: runs on a worker thread with the progress lock held."""
        with self._lock:
            self._latest = snapshot
            urgent = states(snapshot) != self._sent_states
            # A state change overtakes a token count being held back; it does not wait for it.
            if self._closed or self._urgent or (self._scheduled and not urgent):
                return
            self._scheduled, self._urgent = True, urgent
            wait = 0.0 if urgent else max(0.0, self._sent_at + self._interval - self._clock())
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is exiting
            self._loop.call_soon_threadsafe(self._schedule, wait)

    def close(self) -> None:
        """Call on the loop before ending the progress."""
        with self._lock:
            self._closed = True

    def _schedule(self, wait: float) -> None:
        if wait > 0:
            self._timer = self._loop.call_later(wait, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # this flush sends what the timer was holding back
            self._timer = None
        with self._lock:
            self._scheduled = self._urgent = False
            snapshot = self._latest
            if self._closed or snapshot is None:
                return
            self._sent_states = states(snapshot)
            self._sent_at = self._clock()
        self._send(snapshot)
