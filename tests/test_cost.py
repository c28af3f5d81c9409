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
from orchestrator.result import RunResult, RunStatus
from tests import scenarios
from tests.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ToolCall, prompt_tokens
from tests.test_review_findings import PROSE, REVIEW, finding

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
            return Reply(tool_calls=[ToolCall("read_file", {"path": "a.py"})], usage=(5000, 10))
        return Reply(content="Agent 2 read the file and has an answer.")

    llm_server.add(scenarios.is_agent, agent)
    llm_server.add(scenarios.SYNTHESIS, Reply(content=scenarios.SYNTHESIS_TEXT))

    # Room for both agents' first requests at their worst (about 1,200 tokens of prompt and
    # tools, and 2,048 of answer: provider.max_output_tokens.agent), side by side.
    result = make_orchestrator(orchestrator={"parallel_agents": 2, "max_tokens": 7000}).run(REQUEST)

    # 60 + 10 + 5,010 tokens after the first steps: agent 2's next request cannot fit.
    sent = [r for r in llm_server.requests if scenarios.is_agent(r.body)]
    assert sorted(scenarios.agent_number(r.body) for r in sent) == [1, 2]
    assert result.status is RunStatus.PARTIAL
    assert [a.state for a in result.agents] == [AgentState.DONE, AgentState.FAILED]
    assert "token budget" in result.agents[1].error
    assert any("token budget of 7,000 (orchestrator.max_tokens)" in f for f in result.failures)
    assert result.markdown == scenarios.SYNTHESIS_TEXT
    synthesis = [r for r in llm_server.requests if scenarios.SYNTHESIS in r.messages_text][-1]
    assert "(agent 1)" in synthesis.messages_text
    assert "Agent 2 read the file" not in synthesis.messages_text


def budgeted_run(
    llm_server: ScriptedLLMServer, make_orchestrator: Make, max_tokens: int | None
) -> tuple[RunResult, list[RecordedRequest]]:
    """Four agents answering at once (each in one request, reported at its real size), on
    an endpoint that takes them all together."""
    llm_server.clear()
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(4)))
    llm_server.add(
        scenarios.is_agent,
        lambda body: Reply(
            content=f"It divides by zero at a.py:2 (agent {scenarios.agent_number(body)}).",
            # Long enough for every agent to be sending before the first one is counted.
            delay=0.3,
            usage=(prompt_tokens(body), 10),
        ),
    )
    llm_server.add(scenarios.SYNTHESIS, Reply(content=scenarios.SYNTHESIS_TEXT))
    result = make_orchestrator(
        orchestrator={"parallel_agents": 4, "max_tokens": max_tokens},
        provider={"max_output_tokens": {"agent": 50}},
        agent={"tools": []},
        cache={"enabled": False},
    ).run(REQUEST)
    return result, llm_server.wait_settled()


def test_agents_asking_at_once_never_take_the_run_past_its_token_budget(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    free, _ = budgeted_run(llm_server, make_orchestrator, None)
    plan = free.calls[0].usage.total_tokens
    agent = max(c.usage.total_tokens for c in free.calls if c.label.startswith("agent"))
    # Room for the plan and one agent's request and a half: each agent checking the budget
    # and then asking, all four at once, would spend the plan and four.
    limit = plan + agent * 3 // 2

    result, requests = budgeted_run(llm_server, make_orchestrator, limit)

    before_synthesis = [c for c in result.calls if c.label != "synthesis"]
    assert sum(c.usage.total_tokens for c in before_synthesis) <= limit
    assert len(requests) == len(result.calls), "every request sent is counted"
    assert [a.state for a in result.agents].count(AgentState.DONE) == 1
    refused = [a for a in result.agents if a.state is AgentState.FAILED]
    assert len(refused) == 3 and all("token budget is used up" in a.error for a in refused)
    assert result.status is RunStatus.PARTIAL
    # The synthesis always merges what the budget allowed (README: orchestrator.max_tokens).
    assert result.markdown == scenarios.SYNTHESIS_TEXT


def test_an_ample_token_budget_changes_nothing(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    free, _ = budgeted_run(llm_server, make_orchestrator, None)

    ample, _ = budgeted_run(llm_server, make_orchestrator, 10 * free.usage.total_tokens + 20_000)

    assert ample.status is free.status is RunStatus.DONE
    assert ample.failures == free.failures == []
    assert sorted(c.label for c in ample.calls) == sorted(c.label for c in free.calls)
    assert ample.markdown == free.markdown


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
    llm_server.add(scenarios.SYNTHESIS, Reply(content=synthesis, usage=(20_000, 10)))
    llm_server.add(scenarios.SKEPTIC, Reply(content=scenarios.CONFIRMED))
    review = Request(Mode.REVIEW, "a.py", "    return a / b", 2, 2)

    result = make_orchestrator(orchestrator={"parallel_agents": 2, "max_tokens": 20_000}).run(
        review
    )

    assert result.status is RunStatus.DONE  # 120 tokens when the agents were done
    assert [f.agreement for f in result.findings] == ["(2/2 agents)"]
    assert "findings not verified: the token budget is used up" in result.failures
    assert not [r for r in llm_server.requests if scenarios.SKEPTIC in r.messages_text]


def test_the_skeptic_pass_gets_the_budget_left_for_it_one_check_at_a_time(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    found = [
        finding(1, "divide takes no type hints", "def divide(a, b):", "info"),
        finding(2, "b may be zero", "return a / b", "error"),
        finding(5, "the call divides by zero", "print(divide(1, 0))"),
    ]
    scenarios.script_run(
        llm_server,
        2,
        answer="Found problems." + scenarios.findings_block(found),
        synthesis=PROSE + scenarios.findings_block([]),
    )

    def review(max_tokens: int | None) -> RunResult:
        # Agents whose worst case is well under a check's, so that the room left for one
        # check at its worst is room for them too.
        return make_orchestrator(
            orchestrator={"parallel_agents": 2, "max_tokens": max_tokens},
            provider={"max_output_tokens": {"agent": 64}},
            agent={"tools": []},
            cache={"enabled": False},
        ).run(REVIEW)

    free = review(None)
    checks = [c.usage for c in free.calls if c.label.startswith("verify")]
    before = sum(c.usage.total_tokens for c in free.calls if not c.label.startswith("verify"))
    # Left for the pass: its three checks as they really are, and one at its worst (the
    # prompt and all 1,024 tokens it may answer), not three at their worst side by side.
    worst = max(u.prompt_tokens for u in checks) + 1024
    limit = before + sum(u.total_tokens for u in checks) + worst + 100
    llm_server.clear()
    scenarios.script_run(
        llm_server,
        2,
        answer="Found problems." + scenarios.findings_block(found),
        synthesis=PROSE + scenarios.findings_block([]),
    )

    capped = review(limit)

    assert len(checks) == 3 and free.failures == []
    assert capped.failures == [], "every finding was verified"
    assert len([c for c in capped.calls if c.label.startswith("verify")]) == 3
    assert capped.usage.total_tokens <= limit
