"""The outcome of a run: synthesis, per-agent answers, findings, usage and failures."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.llm import Usage
from orchestrator.progress import AgentState


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    HINT = "hint"


SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2, Severity.HINT: 3}


class RunStatus(StrEnum):
    DONE = "done"
    PARTIAL = "partial"  # some agents or the synthesis failed; what succeeded is kept
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class View:
    """One agent's own words for a finding several agents raised."""

    agent: int
    message: str


@dataclass(frozen=True)
class Finding:
    """One problem, at lines of a file.

    `quote` is the code the finding is about, as its author copied it; grounding checks it
    against the file. `agents` are the (1-based) agents that raised it, out of `of_agents`
    that answered; a finding only the synthesis raised has none.
    """

    path: str
    start_line: int
    end_line: int
    severity: Severity
    message: str
    quote: str = ""
    agents: tuple[int, ...] = ()
    of_agents: int = 0
    views: tuple[View, ...] = ()  # what each agent that raised it said

    @property
    def agreement(self) -> str:
        """`(3/4 agents)`, or '' for a finding no agent raised."""
        if not self.agents:
            return ""
        return f"({len(self.agents)}/{self.of_agents} agents)"


@dataclass(frozen=True)
class Rejected:
    """A finding the skeptic pass refuted, and why."""

    finding: Finding
    reason: str


@dataclass(frozen=True)
class Rank:
    """An agent's (1-based) average place in the others' blind rankings, 1 being best."""

    agent: int
    average_place: float
    votes: int


@dataclass(frozen=True)
class CallUsage:
    """One request sent; `error` says how it failed ('' for one that was answered)."""

    label: str
    model: str
    usage: Usage
    error: str = ""


def recorder(calls: list[CallUsage], label: str, model: str) -> Callable[[Usage, str], None]:
    """An `on_attempt` for `LLMClient.complete`: adds every request sent to `calls`."""

    def record(usage: Usage, error: str) -> None:
        calls.append(CallUsage(label, model, usage, error))

    return record


@dataclass(frozen=True)
class PhaseCost:
    """What one phase's requests took; `money` is None when a model has no price."""

    phase: str
    usage: Usage
    money: float | None = None


@dataclass(frozen=True)
class ToolRead:
    """One tool call an agent made and a digest of what it returned.

    A cached result is reused only while every call it made still returns the same: a file
    it read may have changed since, or a search may find more.
    """

    tool: str
    arguments: str
    digest: str

    @classmethod
    def of(cls, tool: str, arguments: str, output: str) -> ToolRead:
        digest = hashlib.sha256(output.encode("utf-8", "surrogatepass")).hexdigest()
        return cls(tool, arguments, digest)


@dataclass(frozen=True)
class AgentResult:
    index: int
    role: str
    question: str
    model: str
    state: AgentState
    answer: str = ""
    error: str = ""
    seconds: float = 0.0
    reads: list[ToolRead] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # from its answer's findings block


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    markdown: str
    agents: list[AgentResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    calls: list[CallUsage] = field(default_factory=list)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    cached: bool = False  # answered from the result cache, not by the model just now
    bad_citations: list[str] = field(default_factory=list)  # `path:line` past the file's end
    phases: list[PhaseCost] = field(default_factory=list)  # tokens and money, per phase
    rejected: list[Rejected] = field(default_factory=list)  # refuted by the skeptic pass
    ranking: list[Rank] = field(default_factory=list)  # council.rank's aggregate, best first

    @property
    def usage(self) -> Usage:
        return sum((call.usage for call in self.calls), Usage())

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        usage = self.usage
        data["usage"] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        money = [phase.money for phase in self.phases]
        data["money"] = sum(m or 0.0 for m in money) if money and None not in money else None
        return data
