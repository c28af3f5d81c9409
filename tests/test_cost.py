"""What a run cost, per phase, in tokens and money; and the token budget that caps it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.engine import Orchestrator
from orchestrator.llm import Usage
from orchestrator.progress import AgentState
from orchestrator.request import Mode, Request
from orchestrator.result import RunStatus
from tests import scenarios
from tests.llm_server import Reply, ScriptedLLMServer, ToolCall

Make = Callable[..., Orchestrator]
REQUEST = Request(Mode.EXPLAIN, "a.py", "    return a / b", 2, 2)


def test_every_result_has_tokens_per_phase_and_money_when_priced(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    scenarios.script_run(llm_server, 2)
    prices = {"scripted-model": {"input": 2.0, "output": 10.0}}

    result = make_orchestrator(
        orchestrator={"parallel_agents": 2}, provider={"prices": prices}
    ).run(REQUEST)

    assert [phase.phase for phase in result.phases] == ["plan", "agents", "synthesis"]
    assert sum((phase.usage for phase in result.phases), Usage()) == result.usage
    agents = sum((c.usage for c in result.calls if c.label.startswith("agent")), Usage())
    assert result.phases[1].usage == agents
    expected = (result.usage.prompt_tokens * 2.0 + result.usage.completion_tokens * 10.0) / 1e6
    assert result.to_dict()["money"] == pytest.approx(expected)
    assert result.to_dict()["phases"][0]["usage"]["prompt_tokens"] > 0


def test_money_is_unknown_while_a_model_has_no_price(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    scenarios.script_run(llm_server, 1)
    prices = {"another-model": {"input": 1, "output": 1}}
    result = make_orchestrator(
        orchestrator={"parallel_agents": 1}, provider={"prices": prices}
    ).run(REQUEST)
    assert [phase.money for phase in result.phases] == [None, None, None]
    assert result.to_dict()["money"] is None


def test_the_token_budget_stops_agents_before_their_next_step_and_keeps_what_is_done(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2), usage=(50, 10)))

    agent_1_asked = threading.Event()

    def agent(body: dict[str, Any]) -> Reply:
        if scenarios.agent_number(body) == 1:
            agent_1_asked.set()
            return Reply(content="It divides by zero at a.py:2 (agent 1).", usage=(5, 5))
        if not any(m["role"] == "tool" for m in body["messages"]):
            # Both agents are under way before this step uses the budget up.
            agent_1_asked.wait(10)
            return Reply(tool_calls=[ToolCall("read_file", {"path": "a.py"})], usage=(150, 10))
        return Reply(content="Agent 2 read the file and has an answer.")

    llm_server.add(scenarios.is_agent, agent)
    llm_server.add(scenarios.SYNTHESIS, Reply(content=scenarios.SYNTHESIS_TEXT))

    result = make_orchestrator(orchestrator={"parallel_agents": 2, "max_tokens": 200}).run(REQUEST)

    # 60 + 10 + 160 tokens after the first steps: agent 2 sends no second request.
    sent = [r for r in llm_server.requests if scenarios.is_agent(r.body)]
    assert sorted(scenarios.agent_number(r.body) for r in sent) == [1, 2]
    assert result.status is RunStatus.PARTIAL
    assert [a.state for a in result.agents] == [AgentState.DONE, AgentState.FAILED]
    assert "token budget" in result.agents[1].error
    assert any("token budget of 200 (orchestrator.max_tokens)" in f for f in result.failures)
    assert result.markdown == scenarios.SYNTHESIS_TEXT
    synthesis = [r for r in llm_server.requests if scenarios.SYNTHESIS in r.messages_text][-1]
    assert "(agent 1)" in synthesis.messages_text
    assert "Agent 2 read the file" not in synthesis.messages_text


def test_a_budget_used_up_by_the_synthesis_leaves_the_findings_unverified(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    block = [{"path": "a.py", "line": 2, "message": "b may be zero", "quote": "return a / b"}]
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2), usage=(50, 10)))
    llm_server.add(
        scenarios.is_agent,
        Reply(content="It divides by b." + scenarios.findings_block(block), usage=(20, 10)),
    )
    synthesis = "The function divides by b unchecked." + scenarios.findings_block([])
    llm_server.add(scenarios.SYNTHESIS, Reply(content=synthesis, usage=(100, 10)))
    llm_server.add(scenarios.SKEPTIC, Reply(content=scenarios.CONFIRMED))
    review = Request(Mode.REVIEW, "a.py", "    return a / b", 2, 2)

    result = make_orchestrator(orchestrator={"parallel_agents": 2, "max_tokens": 200}).run(review)

    assert result.status is RunStatus.DONE  # 120 tokens when the agents were done
    assert [f.agreement for f in result.findings] == ["(2/2 agents)"]
    assert "findings not verified: the token budget is used up" in result.failures
    assert not [r for r in llm_server.requests if scenarios.SKEPTIC in r.messages_text]
