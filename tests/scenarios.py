"""Scripted replies for whole deep-think runs, shared by engine, CLI and server tests.

Rules match on phrases the orchestrator's prompts really contain, so a prompt
change that breaks the flow shows up here rather than being papered over.
"""

from __future__ import annotations

import json
from typing import Any

from tests.llm_server import Reply, ScriptedLLMServer

DECOMPOSE = "plan the work"  # in prompts.DECOMPOSE_SYSTEM
AGENT = "Your sub-question"  # in prompts.AGENT_TASK
SYNTHESIS = "lead engineer"  # in prompts.SYNTHESIS_SYSTEM
SKEPTIC = "Try to refute it"  # in prompts.SKEPTIC_SYSTEM
CONFIRMED = '{"verdict": "confirmed", "reason": "the code shows it"}'


SYNTHESIS_TEXT = "## Summary\nIt divides by zero (`a.py:2`)."


def plan(count: int) -> str:
    subtasks = [
        {"role": f"role {i + 1}", "question": f"sub-question {i + 1}?"} for i in range(count)
    ]
    return json.dumps({"subtasks": subtasks})


def is_agent(body: dict[str, Any]) -> bool:
    return any(AGENT in str(m.get("content") or "") for m in body["messages"])


def agent_number(body: dict[str, Any]) -> int:
    """Which agent sent this request (1-based), from its role line."""
    for message in body["messages"]:
        content = str(message.get("content") or "")
        if content.startswith("Your role: role "):
            return int(content.split()[3])
    raise AssertionError("not an agent request with a scripted role")


def findings_block(findings: list[dict[str, Any]]) -> str:
    return "\n```findings\n" + json.dumps(findings) + "\n```\n"


def script_run(
    llm: ScriptedLLMServer,
    agents: int = 4,
    *,
    answer: str = "The code divides by zero at `a.py:2`.",
    synthesis: str = SYNTHESIS_TEXT,
    agent_delay: float = 0.0,
) -> None:
    """A run that goes well: a valid plan, agents that answer at once, a synthesis."""
    llm.add(DECOMPOSE, Reply(content=plan(agents)))
    llm.add(
        is_agent,
        lambda body: Reply(content=f"{answer} (agent {agent_number(body)})", delay=agent_delay),
    )
    llm.add(SYNTHESIS, Reply(content=synthesis))
    llm.add(SKEPTIC, Reply(content=CONFIRMED))
