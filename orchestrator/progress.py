"""Shared, lock-protected run state that front ends (LSP progress, terminal) subscribe to."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.endpoint import Turn

_log = logging.getLogger(__name__)

WAITING_STEP = "waiting for the endpoint"  # an agent's step while its request waits its turn


class Phase(StrEnum):
    DECOMPOSING = "decomposing"
    RUNNING = "running"
    RANKING = "ranking"
    SYNTHESISING = "synthesising"
    VERIFYING = "verifying"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class AgentState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (AgentState.QUEUED, AgentState.RUNNING)


@dataclass(frozen=True)
class AgentStatus:
    index: int
    role: str
    model: str
    state: AgentState = AgentState.QUEUED
    step: str = ""
    tokens: int = 0
    error: str = ""
    started: float | None = None
    finished: float | None = None


@dataclass(frozen=True)
class Snapshot:
    phase: Phase
    agents: tuple[AgentStatus, ...]
    waiting: int = 0  # the run's requests waiting for their turn at the endpoint
    sending: int = 0  # ... and those that have it

    @property
    def stalled(self) -> bool:
        """Nothing of the run moves: its requests all wait for other jobs' (or each
        other's) turns at the endpoint."""
        return self.waiting > 0 and self.sending == 0

    @property
    def finished_agents(self) -> int:
        return sum(agent.state.finished for agent in self.agents)

    @property
    def percentage(self) -> int:
        """Decomposition is the first tenth, agents the next eight, synthesis and the passes
        after it the last."""
        if self.phase is Phase.DECOMPOSING:
            return 0
        if self.phase in (Phase.DONE, Phase.CANCELLED, Phase.FAILED):
            return 100
        if self.phase is Phase.RANKING:
            return 88
        if self.phase is Phase.SYNTHESISING:
            return 90
        if self.phase is Phase.VERIFYING:
            return 95
        done = self.finished_agents / len(self.agents) if self.agents else 0.0
        return 10 + int(80 * done)

    def summary(self) -> str:
        """One line: what each group of agents is doing, e.g. '2 running, 1 done, 1 failed'."""
        counts: dict[str, int] = {}
        for agent in self.agents:
            counts[agent.state.value] = counts.get(agent.state.value, 0) + 1
        states = ", ".join(f"{count} {state}" for state, count in counts.items())
        phase = f"{self.phase.value} ({WAITING_STEP})" if self.stalled else self.phase.value
        return f"{phase}: {states}" if states else phase


Subscriber = Callable[[Snapshot], None]


class Progress:
    """Every change produces a new immutable snapshot, delivered to subscribers in order.

    Subscribers are called with the lock held so that they observe changes in the
    order they happened; they must return quickly (hand work to another thread).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._snapshot = Snapshot(Phase.DECOMPOSING, ())
        self._subscribers: list[Subscriber] = []

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def set_phase(self, phase: Phase) -> None:
        with self._lock:
            self._publish(dataclasses.replace(self._snapshot, phase=phase))

    def add_agent(self, agent: AgentStatus) -> None:
        """One more agent, whose index is its place in the list."""
        with self._lock:
            agents = (*self._snapshot.agents, agent)
            self._publish(dataclasses.replace(self._snapshot, agents=agents))

    def turn(self, before: Turn | None, after: Turn) -> None:
        """A request of the run moved through the endpoint's queue (a TurnListener)."""
        with self._lock:
            now = self._snapshot
            waiting = now.waiting + (after is Turn.WAITING) - (before is Turn.WAITING)
            sending = now.sending + (after is Turn.SENDING) - (before is Turn.SENDING)
            self._publish(dataclasses.replace(now, waiting=waiting, sending=sending))

    def update_agent(self, index: int, **changes: Any) -> None:
        """Apply changes to one agent; a finished agent never goes back to running."""
        with self._lock:
            agents = list(self._snapshot.agents)
            current = agents[index]
            if current.state.finished:
                return
            state = changes.get("state")
            if state is AgentState.RUNNING and current.started is None:
                changes["started"] = time.monotonic()
            if isinstance(state, AgentState) and state.finished:
                changes["finished"] = time.monotonic()
            agents[index] = dataclasses.replace(current, **changes)
            self._publish(dataclasses.replace(self._snapshot, agents=tuple(agents)))

    def offer_tokens(self, index: int, tokens: int) -> bool:
        """An agent's running token count, from the transport thread that every request
        shares: rather than wait while another thread holds the lock (and, holding it, waits
        for the interpreter), the count is dropped and False returned; a later one will do."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self.update_agent(index, tokens=tokens)
        finally:
            self._lock.release()
        return True

    def _publish(self, snapshot: Snapshot) -> None:
        if snapshot == self._snapshot:
            return
        self._snapshot = snapshot
        for subscriber in list(self._subscribers):
            try:
                subscriber(snapshot)
            except Exception:
                # A broken display must not take the agents down with it.
                _log.exception("progress subscriber failed")
