"""The whole engine against the scripted server over real HTTP."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator import prompts
from orchestrator.cancel import CancelToken
from orchestrator.engine import Orchestrator
from orchestrator.progress import AgentState, AgentStatus, Phase, Progress, Snapshot
from orchestrator.request import Mode, Request
from orchestrator.result import RunResult, RunStatus, Severity
from tests import scenarios
from tests.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ToolCall

REQUEST = Request(
    Mode.EXPLAIN, "a.py", "    return a / b", 2, 2, context="    2>|     return a / b"
)
Make = Callable[..., Orchestrator]


def chat_requests(llm: ScriptedLLMServer) -> list[RecordedRequest]:
    return [r for r in llm.requests if r.path.endswith("/chat/completions")]


def agent_requests(llm: ScriptedLLMServer) -> list[RecordedRequest]:
    return [r for r in chat_requests(llm) if scenarios.is_agent(r.body)]


def test_run_decomposes_runs_agents_and_synthesises(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    scenarios.script_run(llm_server, 4)
    snapshots: list[Snapshot] = []
    progress = Progress()
    progress.subscribe(snapshots.append)

    result = make_orchestrator().run(REQUEST, progress=progress)

    assert result.status is RunStatus.DONE
    assert result.markdown == "## Summary\nIt divides by zero (`a.py:2`)."
    assert [a.state for a in result.agents] == [AgentState.DONE] * 4
    assert [a.role for a in result.agents] == [f"role {i}" for i in range(1, 5)]
    assert all(f"(agent {a.index + 1})" in a.answer for a in result.agents)
    assert result.calls[0].label == "decompose 1"
    assert result.calls[-1].label == "synthesis"
    assert result.usage.total_tokens == sum(c.usage.total_tokens for c in result.calls) > 0
    phases = [s.phase for s in snapshots]
    assert phases.index(Phase.RUNNING) < phases.index(Phase.SYNTHESISING) < phases.index(Phase.DONE)
    synthesis = chat_requests(llm_server)[-1].messages_text
    assert all(f"(agent {i})" in synthesis for i in range(1, 5))


def test_agents_overlap_in_time(llm_server: ScriptedLLMServer, make_orchestrator: Make) -> None:
    scenarios.script_run(llm_server, 4, agent_delay=0.3)
    make_orchestrator().run(REQUEST)
    agents = agent_requests(llm_server)
    assert len(agents) == 4
    latest_start = max(r.started for r in agents)
    earliest_end = min(r.finished or 0 for r in llm_server.wait_settled() if r in agents)
    assert latest_start < earliest_end, "every agent started before the first one finished"


def test_agents_share_the_prompt_prefix_and_differ_only_at_the_end(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    scenarios.script_run(llm_server, 3)
    make_orchestrator(orchestrator={"parallel_agents": 3}).run(REQUEST)
    bodies = [r.body["messages"] for r in agent_requests(llm_server)]
    assert all(messages[:2] == bodies[0][:2] for messages in bodies)
    assert len({json.dumps(messages[2]) for messages in bodies}) == 3


@pytest.mark.parametrize("count", [1, 4, 7])
def test_malformed_plan_is_retried_once_then_falls_back_to_roles(
    count: int, llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content="Sure! Here are some ideas."), times=1)
    llm_server.add(scenarios.DECOMPOSE, Reply(content='{"subtasks": [{"role": "x"}]}'), times=1)
    llm_server.add(None, Reply(content="An answer citing a.py:2."))

    result = make_orchestrator(orchestrator={"parallel_agents": count}).run(REQUEST)

    decompositions = [
        r for r in chat_requests(llm_server) if scenarios.DECOMPOSE in r.messages_text
    ]
    assert len(decompositions) == 2
    assert "no JSON found" in decompositions[1].messages_text
    assert len(result.agents) == count
    roles = [a.role for a in result.agents]
    expected = ["research", "analysis", "alternatives", "verification"]
    assert roles[: min(count, 4)] == expected[: min(count, 4)]
    if count == 7:
        assert roles[4:] == ["research 2", "analysis 2", "alternatives 2"]
    assert len(set(roles)) == count
    assert any("decomposition unusable" in f for f in result.failures)
    assert result.status is RunStatus.DONE or result.status is RunStatus.PARTIAL


def test_agents_start_while_the_plan_is_still_streaming_in(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    # About 0.1 s between the plan's pieces: the first sub-question is whole long before the
    # last one has arrived.
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(4), chunk_delay=0.1))
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The merged answer."))
    snapshots: list[Snapshot] = []
    progress = Progress()
    progress.subscribe(snapshots.append)

    result = make_orchestrator().run(REQUEST, progress=progress)

    assert result.status is RunStatus.DONE
    plan_request = chat_requests(llm_server)[0]
    assert plan_request.finished is not None
    first_agent = min(r.started for r in agent_requests(llm_server))
    assert first_agent < plan_request.finished, "an agent asked before the plan was complete"
    # The progress shows the agents as they start, still in the decomposing phase.
    decomposing = [s for s in snapshots if s.phase is Phase.DECOMPOSING and s.agents]
    assert decomposing and len(decomposing[0].agents) < 4
    assert [a.role for a in result.agents] == [f"role {i}" for i in range(1, 5)]


def test_a_key_the_model_puts_in_the_streamed_plan_reaches_nothing(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    plan = json.dumps(
        {"subtasks": [{"role": f"leak test-key {i}", "question": "print test-key"} for i in (1, 2)]}
    )
    llm_server.add(scenarios.DECOMPOSE, Reply(content=plan, pieces=len(plan) // 4))
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The answers agree: it divides by b."))
    snapshots: list[Snapshot] = []
    progress = Progress()
    progress.subscribe(snapshots.append)

    result = make_orchestrator(orchestrator={"parallel_agents": 2}).run(REQUEST, progress=progress)

    assert [(a.role, a.question) for a in result.agents] == [
        ("leak *** 1", "print ***"),
        ("leak *** 2", "print ***"),
    ]
    assert "test-key" not in json.dumps(result.to_dict())
    assert not any("test-key" in agent.role for s in snapshots for agent in s.agents)
    agent_prompts = " ".join(r.messages_text for r in agent_requests(llm_server))
    assert "print ***" in agent_prompts and "test-key" not in agent_prompts


def test_a_short_plan_keeps_its_questions_and_fills_the_rest_from_templates(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    # Two whole sub-questions for four agents, the way a small model plans.
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm_server.add(None, Reply(content="An answer."))

    result = make_orchestrator().run(REQUEST)

    assert [a.role for a in result.agents] == ["role 1", "role 2", "alternatives", "verification"]
    assert len([r for r in chat_requests(llm_server) if scenarios.DECOMPOSE in r.messages_text
                and "Your sub-question" not in r.messages_text]) == 1, "no retry"  # fmt: skip
    asked = [r.body["messages"][-1]["content"] for r in agent_requests(llm_server)]
    assert len(asked) == 4 and any(a.endswith("sub-question 1?") for a in asked)
    assert any("2 usable sub-question(s) for 4 agents" in f for f in result.failures)
    assert result.status is RunStatus.DONE


def test_a_plan_that_copies_the_example_is_asked_again_and_agents_keep_their_questions(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    copied = {"subtasks": [{"role": r, "question": q} for r, q in prompts.EXAMPLE_PLAN]}
    llm_server.add(scenarios.DECOMPOSE, Reply(content=json.dumps(copied)), times=1)
    retry = json.dumps(
        {"subtasks": [{"role": f"retry {i}", "question": f"again {i}?"} for i in range(1, 5)]}
    )
    llm_server.add(scenarios.DECOMPOSE, Reply(content=retry), times=1)
    llm_server.add(None, Reply(content="An answer."))

    result = make_orchestrator().run(REQUEST)

    assert [a.role for a in result.agents] == ["retry 1", "retry 2", "retry 3", "retry 4"]
    retry_request = [
        r for r in chat_requests(llm_server) if "copies the example" in r.messages_text
    ]
    assert retry_request, "the retry says what was wrong"
    assert result.status is RunStatus.DONE


def test_cancel_while_decomposing_stops_the_agents_already_started(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(4), chunk_delay=0.2))
    llm_server.add(scenarios.is_agent, Reply(content="late", delay=30))
    orchestrator = make_orchestrator()
    token = CancelToken()
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(orchestrator.run(REQUEST, token)))
    thread.start()
    llm_server.wait_for_requests(2, timeout=10)  # the plan, and the first agent
    token.cancel()
    thread.join(10)
    assert not thread.is_alive(), "run returned after cancel"
    result = results[0]
    assert result.status is RunStatus.CANCELLED
    assert result.agents and {a.state for a in result.agents} == {AgentState.CANCELLED}
    settled = llm_server.wait_settled()
    assert all(r.aborted for r in settled), "the plan and the agent were both cut off"
    assert len(chat_requests(llm_server)) < 5, "no agent started after the cancel"


def test_tool_calls_are_executed_and_sandbox_escapes_refused(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))

    def agent(body: dict[str, Any]) -> Reply:
        tool_results = [m for m in body["messages"] if m["role"] == "tool"]
        if not tool_results:
            return Reply(
                tool_calls=[
                    ToolCall("read_file", {"path": "a.py", "start_line": 2, "end_line": 2}),
                    ToolCall("read_file", {"path": "../../etc/passwd"}),
                    ToolCall("read_file", "{not json"),
                    ToolCall("rm_rf", {}),
                ]
            )
        return Reply(content="Checked: " + " || ".join(m["content"] for m in tool_results))

    llm_server.add(scenarios.is_agent, agent)
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The merged answer."))

    result = make_orchestrator(orchestrator={"parallel_agents": 1}).run(REQUEST)

    answer = result.agents[0].answer
    read, escape, bad_json, unknown = answer.removeprefix("Checked: ").split(" || ")
    assert "return a / b" in read and "2" in read
    assert escape.startswith("error:") and "root:" not in escape
    assert "not valid JSON" in bad_json
    assert "unknown tool 'rm_rf'" in unknown
    second_turn = agent_requests(llm_server)[1].body["messages"]
    assistant = next(m for m in second_turn if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["function"]["name"] == "read_file"


def test_finish_tool_ends_the_agent(llm_server: ScriptedLLMServer, make_orchestrator: Make) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    llm_server.add(
        scenarios.is_agent, Reply(tool_calls=[ToolCall("finish", {"answer": "Done: it divides."})])
    )
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The merged answer."))
    result = make_orchestrator(orchestrator={"parallel_agents": 1}).run(REQUEST)
    assert result.agents[0].answer == "Done: it divides."
    assert len(agent_requests(llm_server)) == 1


def test_max_iterations_forces_a_final_answer_without_tools(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    llm_server.add(
        lambda b: scenarios.is_agent(b) and "tools" not in b, Reply(content="The final answer.")
    )
    llm_server.add(scenarios.is_agent, Reply(tool_calls=[ToolCall("list_files", {})]))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The merged answer."))
    result = make_orchestrator(
        agent={"max_iterations": 3}, orchestrator={"parallel_agents": 1}
    ).run(REQUEST)
    requests = agent_requests(llm_server)
    assert len(requests) == 3
    assert "tools" in requests[0].body and "tools" not in requests[2].body
    assert "used your tool budget" in requests[2].messages_text
    assert result.agents[0].answer == "The final answer."


def test_agent_timeout_keeps_the_other_answers(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(3)))
    llm_server.add(
        lambda b: scenarios.is_agent(b) and scenarios.agent_number(b) == 2, Reply(delay=30)
    )
    llm_server.add(
        scenarios.is_agent, lambda b: Reply(content=f"answer {scenarios.agent_number(b)}")
    )
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The merged answer."))

    result = make_orchestrator(orchestrator={"parallel_agents": 3, "task_timeout": 0.5}).run(
        REQUEST
    )

    assert [a.state for a in result.agents] == [
        AgentState.DONE,
        AgentState.TIMED_OUT,
        AgentState.DONE,
    ]
    assert result.status is RunStatus.PARTIAL
    assert result.markdown == "The merged answer."
    synthesis = chat_requests(llm_server)[-1].messages_text
    assert "answer 1" in synthesis and "answer 3" in synthesis
    assert any("task_timeout" in f for f in result.failures)
    stuck = next(
        r
        for r in llm_server.wait_settled()
        if r.body and scenarios.is_agent(r.body) and scenarios.agent_number(r.body) == 2
    )
    assert stuck.aborted, "the timed-out agent's HTTP call was really aborted"


def test_cancel_aborts_in_flight_calls_and_sends_nothing_after(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(4)))
    llm_server.add(scenarios.is_agent, Reply(content="late", delay=30))
    orchestrator = make_orchestrator()
    token = CancelToken()
    progress = Progress()
    done = threading.Event()
    results: list[RunResult] = []

    def run() -> None:
        results.append(orchestrator.run(REQUEST, token, progress))
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    llm_server.wait_for_requests(5, timeout=10)
    token.cancel()
    assert done.wait(10), "run returned after cancel"
    result = results[0]
    assert result.status is RunStatus.CANCELLED
    assert progress.snapshot().phase is Phase.CANCELLED
    assert {a.state for a in result.agents} == {AgentState.CANCELLED}
    settled = llm_server.wait_settled()
    assert len(chat_requests(llm_server)) == 5, "no request after cancel (no synthesis)"
    assert all(r.aborted for r in settled if r.body and scenarios.is_agent(r.body))


def test_council_mode_assigns_models_round_robin(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    scenarios.script_run(llm_server, 4)
    result = make_orchestrator(
        council={"models": ["model-a", "model-b", "model-c"]},
        orchestrator={"synthesis_model": "judge"},
    ).run(REQUEST)
    by_agent = {scenarios.agent_number(r.body): r.model for r in agent_requests(llm_server)}
    assert by_agent == {1: "model-a", 2: "model-b", 3: "model-c", 4: "model-a"}
    assert [a.model for a in result.agents] == ["model-a", "model-b", "model-c", "model-a"]
    assert chat_requests(llm_server)[0].model == "scripted-model"
    assert chat_requests(llm_server)[-1].model == "judge"


@pytest.mark.parametrize("status", [429, 500])
def test_transient_errors_are_retried(
    status: int, llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(
        scenarios.DECOMPOSE, Reply(status=status, headers={"Retry-After": "0.05"}), times=2
    )
    scenarios.script_run(llm_server, 2)
    result = make_orchestrator(
        provider={"max_retries": 2}, orchestrator={"parallel_agents": 2}
    ).run(REQUEST)
    decompositions = [
        r for r in chat_requests(llm_server) if scenarios.DECOMPOSE in r.messages_text
    ]
    assert len(decompositions) == 3
    assert result.status is RunStatus.DONE
    assert result.failures == []


@pytest.mark.parametrize(
    ("status", "words"), [(429, "rate-limiting"), (500, "answered 500"), (502, "answered 502")]
)
def test_persistent_errors_are_reported_with_partial_results(
    status: int, words: str, llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(3)))
    llm_server.add(
        lambda b: scenarios.is_agent(b) and scenarios.agent_number(b) == 3,
        Reply(status=status, headers={"Retry-After": "0"}),
    )
    scenarios.script_run(llm_server, 3)
    result = make_orchestrator(
        provider={"max_retries": 1}, orchestrator={"parallel_agents": 3}
    ).run(REQUEST)
    assert result.status is RunStatus.PARTIAL
    assert [a.state for a in result.agents][2] is AgentState.FAILED
    assert words in result.agents[2].error
    third = [r for r in agent_requests(llm_server) if scenarios.agent_number(r.body) == 3]
    assert len(third) == 2, "one retry, then reported"
    assert result.markdown.startswith("## Summary")


def test_bad_key_fails_fast_with_the_variable_to_set(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(None, Reply(status=401, error_message="Incorrect API key provided: test-key"))
    result = make_orchestrator().run(REQUEST)
    assert result.status is RunStatus.FAILED
    assert len(chat_requests(llm_server)) == 1, "no agent repeats a request the key cannot pass"
    (failure,) = result.failures
    assert "rejected the API key" in failure and "DEEPTHINK_API_KEY" in failure
    assert "test-key" not in json.dumps(result.to_dict())


def test_synthesis_failure_returns_labelled_agent_answers(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.SYNTHESIS, Reply(status=500))
    scenarios.script_run(llm_server, 2)
    result = make_orchestrator(orchestrator={"parallel_agents": 2}).run(REQUEST)
    assert result.status is RunStatus.PARTIAL
    assert "## Agent 1: role 1" in result.markdown and "## Agent 2: role 2" in result.markdown
    assert any(f.startswith("synthesis:") for f in result.failures)


def test_review_returns_structured_findings(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    findings: list[dict[str, Any]] = [
        {
            "path": "a.py",
            "start_line": 2,
            "end_line": 2,
            "severity": "error",
            "message": "b may be 0",
        },
        {"path": "a.py", "start_line": 5, "severity": "bogus", "message": "divides by zero"},
        {"message": "no line"},
    ]
    scenarios.script_run(
        llm_server, 2, synthesis="Two problems." + scenarios.findings_block(findings)
    )
    review = Request(Mode.REVIEW, "a.py", "    return a / b", 2, 2)
    result = make_orchestrator(orchestrator={"parallel_agents": 2}).run(review)
    assert result.markdown == "Two problems."
    assert [(f.start_line, f.end_line, f.severity) for f in result.findings] == [
        (2, 2, Severity.ERROR),
        (5, 5, Severity.WARNING),
    ]
    synthesis = [r for r in chat_requests(llm_server) if scenarios.SYNTHESIS in r.messages_text]
    assert "findings" in synthesis[-1].messages_text
    assert any("1 malformed finding" in f for f in result.failures)


def test_unreachable_endpoint_fails_with_a_readable_message(make_orchestrator: Make) -> None:
    result = make_orchestrator(provider={"base_url": "http://127.0.0.1:9/v1"}).run(REQUEST)
    assert result.status is RunStatus.FAILED
    assert "cannot reach http://127.0.0.1:9/v1" in result.failures[0]


def test_an_endpoint_dripping_the_plan_is_cut_off_at_the_phase_deadline(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    # A byte every 0.2 s never trips request_timeout (an idle timeout): only a deadline ends it.
    plan = scenarios.plan(2)
    llm_server.add(scenarios.DECOMPOSE, Reply(content=plan, pieces=len(plan), chunk_delay=0.2))
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The answers agree: it divides by b."))

    result = make_orchestrator(orchestrator={"parallel_agents": 2, "phase_timeout": 0.5}).run(
        REQUEST
    )

    assert result.status is RunStatus.DONE
    assert result.markdown == "The answers agree: it divides by b."
    assert "decomposition stopped after 0.5 s (orchestrator.phase_timeout)" in result.failures


def test_a_dripping_synthesis_is_cut_off_and_the_answers_kept(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="x" * 200, pieces=200, chunk_delay=0.2))

    result = make_orchestrator(orchestrator={"parallel_agents": 2, "phase_timeout": 0.5}).run(
        REQUEST
    )

    assert result.status is RunStatus.PARTIAL
    assert result.failures == ["synthesis stopped after 0.5 s (orchestrator.phase_timeout)"]
    assert "## Agent 1: role 1" in result.markdown and "An answer." in result.markdown


def test_tool_calls_past_the_per_turn_cap_are_not_run_and_the_model_is_told(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    flood = [ToolCall("read_file", {"path": "a.py"}, id=f"call_{n}") for n in range(400)]
    llm_server.add(scenarios.is_agent, Reply(tool_calls=flood), times=1)
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The answers agree: it divides by b."))

    result = make_orchestrator(
        orchestrator={"parallel_agents": 1}, agent={"max_tool_calls_per_turn": 3}
    ).run(REQUEST)

    assert result.status is RunStatus.DONE
    second_turn = agent_requests(llm_server)[1].body["messages"]
    assistant = next(m for m in second_turn if m["role"] == "assistant")
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_0", "call_1", "call_2"]
    assert [m["tool_call_id"] for m in second_turn if m["role"] == "tool"] == assistant_ids(
        assistant
    )
    assert second_turn[-1]["role"] == "user"
    assert "the other 397 were not" in second_turn[-1]["content"]
    assert "agent.max_tool_calls_per_turn" in second_turn[-1]["content"]


def assistant_ids(assistant: dict[str, Any]) -> list[str]:
    return [call["id"] for call in assistant["tool_calls"]]


def test_an_agents_tool_output_is_capped_in_all_and_then_it_must_answer(
    llm_server: ScriptedLLMServer, make_orchestrator: Make, workspace: Path
) -> None:
    (workspace / "big.txt").write_text("".join(f"line {n}\n" for n in range(1000)))
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    reads = [ToolCall("read_file", {"path": "big.txt"}, id=f"call_{n}") for n in range(2)]
    llm_server.add(scenarios.is_agent, Reply(tool_calls=reads), times=1)
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The answers agree: it divides by b."))

    result = make_orchestrator(
        orchestrator={"parallel_agents": 1}, agent={"max_tool_output_chars": 1000}
    ).run(REQUEST)

    assert result.agents[0].answer == "An answer."
    second = agent_requests(llm_server)[1].body
    first_read, second_read = [m["content"] for m in second["messages"] if m["role"] == "tool"]
    assert len(first_read) < 1300 and "agent.max_tool_output_chars" in first_read
    assert second_read.startswith("error: the tool output budget is used up")
    assert "tools" not in second, "with the budget spent, the next turn must answer"


def test_a_lone_surrogate_from_the_model_or_a_file_name_does_not_stop_the_agent(
    llm_server: ScriptedLLMServer, make_orchestrator: Make, workspace: Path
) -> None:
    (workspace / os.fsdecode(b"caf\xe9.py")).write_text("x = 1\n")  # a Latin-1 file name
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    calls = [ToolCall("read_file", {"path": "\ud800.py"}), ToolCall("list_files", {})]
    llm_server.add(scenarios.is_agent, Reply(content="Look\udc00", tool_calls=calls), times=1)
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The answers agree: it divides by b."))

    result = make_orchestrator(orchestrator={"parallel_agents": 1}).run(REQUEST)

    assert (result.status, result.agents[0].answer) == (RunStatus.DONE, "An answer.")
    second = agent_requests(llm_server)[1].body["messages"]
    read, listing = [m["content"] for m in second if m["role"] == "tool"]
    assert read == "error: no such file: \ufffd.py"
    assert "caf\ufffd.py" in listing.splitlines()
    assistant = next(m for m in second if m["role"] == "assistant")
    assert assistant["content"] == "Look\ufffd"


@pytest.mark.parametrize("allowed", [False, True])
def test_a_secret_in_the_workspace_reaches_the_model_only_if_the_user_allows_it(
    allowed: bool, llm_server: ScriptedLLMServer, make_orchestrator: Make, workspace: Path
) -> None:
    (workspace / ".env").write_text("API_TOKEN=hunter2\n")
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    llm_server.add(
        scenarios.is_agent, Reply(tool_calls=[ToolCall("read_file", {"path": ".env"})]), times=1
    )
    llm_server.add(scenarios.is_agent, Reply(content="An answer."))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="The answers agree: it divides by b."))
    agent = {"allow_paths": [".env"]} if allowed else {}

    make_orchestrator(orchestrator={"parallel_agents": 1}, agent=agent).run(REQUEST)

    sent = " ".join(r.messages_text for r in llm_server.requests)
    assert ("hunter2" in sent) is allowed
    assert ("refused: .env may hold secrets" in sent) is not allowed


def test_a_running_token_count_is_dropped_rather_than_waiting_for_the_progress_lock() -> None:
    # The transport thread, which every agent's request shares, offers the counts.
    progress = Progress()
    progress.add_agent(AgentStatus(0, "role", "model"))
    subscriber_entered, release = threading.Event(), threading.Event()

    def slow_subscriber(snapshot: Snapshot) -> None:
        if snapshot.agents[0].step == "busy":
            subscriber_entered.set()
            release.wait(5)

    progress.subscribe(slow_subscriber)
    holder = threading.Thread(target=progress.update_agent, args=(0,), kwargs={"step": "busy"})
    holder.start()
    assert subscriber_entered.wait(5)
    try:
        assert progress.offer_tokens(0, 10) is False
    finally:
        release.set()
        holder.join()
    assert progress.snapshot().agents[0].tokens == 0
    assert progress.offer_tokens(0, 12) is True
    assert progress.snapshot().agents[0].tokens == 12
