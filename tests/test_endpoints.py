"""Whole runs against scripted servers that behave like real ones: llama.cpp, Ollama, vLLM.

Each profile ends with a useful result, or with a message that names the cause and the
setting to change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from orchestrator.cancel import CancelToken
from orchestrator.config import validate
from orchestrator.context import selection_request
from orchestrator.endpoint import endpoint_for
from orchestrator.engine import Orchestrator
from orchestrator.llm import LLMClient
from orchestrator.progress import WAITING_STEP, AgentState, Progress
from orchestrator.request import Mode, Request
from orchestrator.result import RunResult, RunStatus
from orchestrator.workspace import Workspace
from tests import scenarios
from tests.conftest import SAMPLE
from tests.llm_server import (
    LLAMA_CPP,
    OLLAMA,
    OPENAI,
    VLLM,
    Profile,
    RecordedRequest,
    Reply,
    ScriptedLLMServer,
    ToolCall,
)
from tests.lsp_harness import DIVIDE, SOURCE, editor, wait_until

REQUEST = selection_request(Mode.EXPLAIN, "a.py", SAMPLE, 2, 2, 6000)
ANSWER = "It divides `a` by `b` at `a.py:2` and fails when `b` is zero"


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedLLMServer] = []

    def start(profile: Profile) -> ScriptedLLMServer:
        servers.append(ScriptedLLMServer(profile=profile).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def run(
    llm: ScriptedLLMServer, root: Path, request: Request = REQUEST, **sections: Any
) -> RunResult:
    provider = {"base_url": llm.base_url, "model": "scripted-model", "max_retries": 3}
    provider.update(sections.pop("provider", {}))
    config = validate(
        {"provider": provider, "cache": {"enabled": False}, **sections}, "endpoint test"
    )
    client = LLMClient(config.provider, "test-key")
    try:
        return Orchestrator(config, Workspace(root), client).run(request)
    finally:
        client.close()


def read_then_answer(body: dict[str, Any]) -> Reply:
    """An agent that reads the file with a tool, then answers citing it."""
    messages = body["messages"]
    has_read = any(
        m["role"] == "tool" or str(m.get("content") or "").startswith("Result of read_file")
        for m in messages
    )
    if "tools" in body and not has_read:
        return Reply(tool_calls=[ToolCall("read_file", {"path": "a.py"})])
    return Reply(content=f"{ANSWER}.")


def script_tool_run(llm: ScriptedLLMServer, agents: int = 4, plan_delay: float = 0.0) -> None:
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(agents), chunk_delay=plan_delay))
    llm.add(scenarios.is_agent, read_then_answer)
    llm.add(scenarios.SYNTHESIS, Reply(content="## Summary\nIt divides by zero (`a.py:2`)."))


def agent_requests(llm: ScriptedLLMServer) -> list[RecordedRequest]:
    return [r for r in llm.requests if scenarios.is_agent(r.body)]


# --- llama.cpp: one request at a time, new requests abort the running stream --------------


def test_llama_cpp_without_a_concurrency_limit_names_the_cause_and_the_setting(
    serve: Any, workspace: Path
) -> None:
    llm = serve(LLAMA_CPP)
    # The plan streams slowly: agents start from its first sub-questions and cut it off.
    script_tool_run(llm, plan_delay=0.05)

    result = run(llm, workspace)

    assert result.status in (RunStatus.PARTIAL, RunStatus.FAILED)
    explained = [f for f in result.failures if "max_concurrent_requests: 1" in f]
    assert explained and "one request at a time" in explained[0]
    # Retries (max_retries: 3) do not multiply the cut-offs: each cut request is sent once.
    cut = [r for r in llm.wait_settled() if r.cut_off]
    assert cut and len(llm.requests) <= 1 + 2 * 4 + 1
    assert len(result.calls) == len(llm.requests), "every request is counted"
    # The agent started from the plan's first sub-question keeps it; the rest are templates.
    assert [a.role for a in result.agents] == ["role 1", "analysis", "alternatives", "verification"]


def test_llama_cpp_with_one_request_at_a_time_answers_and_runs_the_tools(
    serve: Any, workspace: Path
) -> None:
    llm = serve(LLAMA_CPP)
    script_tool_run(llm, plan_delay=0.02)

    result = run(llm, workspace, provider={"max_concurrent_requests": 1})

    assert result.status is RunStatus.DONE, result.failures
    assert not any(r.cut_off or r.aborted for r in llm.wait_settled())
    tooled = [r for r in agent_requests(llm) if "tools" in r.body]
    assert tooled and all(r.body["tool_choice"] == "auto" for r in tooled)
    assert all(a.answer.startswith(ANSWER) for a in result.agents)
    assert any("return a / b" in r.messages_text for r in agent_requests(llm)), "a.py was read"


def test_tool_calls_written_as_text_are_run_as_calls(serve: Any, workspace: Path) -> None:
    # The model's own chat template: tool_choice or not, it writes <tool_call> blocks.
    llm = serve(dataclasses.replace(LLAMA_CPP, tool_calls_as_text="always"))
    script_tool_run(llm, agents=2)

    result = run(
        llm, workspace, provider={"max_concurrent_requests": 1}, orchestrator={"parallel_agents": 2}
    )

    assert result.status is RunStatus.DONE, result.failures
    assert all(a.answer.startswith(ANSWER) for a in result.agents)
    second_turns = [r for r in agent_requests(llm) if "Result of read_file" in r.messages_text]
    assert len(second_turns) == 2 and "return a / b" in second_turns[0].messages_text


def test_llama_cpp_context_overflow_names_the_window_then_fits_when_told(
    serve: Any, workspace: Path
) -> None:
    text = "def big(x):\n" + "".join(f"    x = x * {i} + {i}\n" for i in range(1500))
    (workspace / "big.py").write_text(text)
    request = selection_request(Mode.EXPLAIN, "big.py", text, 900, 902, 6000)
    llm = serve(LLAMA_CPP)
    script_tool_run(llm)

    # Without retries: each would be cut off the same way, only later.
    settings = {"max_concurrent_requests": 1, "max_retries": 0}
    overflowed = run(llm, workspace, request, provider=settings)

    assert overflowed.status is RunStatus.FAILED
    assert any(
        "context window" in f and "provider.context_window" in f for f in overflowed.failures
    )

    fitted = run(llm, workspace, request, provider={**settings, "context_window": 2048})

    assert fitted.status is RunStatus.DONE, fitted.failures
    sent = llm.requests[-len(fitted.calls) :]
    assert all(r.body["max_tokens"] <= 512 for r in sent), "answers capped to fit the window"
    assert "  901>| " in sent[0].messages_text, "the selection survives the cut"


# --- Ollama: requests queue; a model without tool support refuses tools --------------------


def test_ollama_model_without_tools_answers_without_them_and_says_so_once(
    serve: Any, workspace: Path
) -> None:
    llm = serve(OLLAMA)
    script_tool_run(llm)

    result = run(llm, workspace)

    assert result.status is RunStatus.DONE, result.failures
    said = [f for f in result.failures if "does not take tool calls" in f]
    assert len(said) == 1 and said == result.failures
    assert all(a.answer.startswith(ANSWER) for a in result.agents)
    answered = [r for r in agent_requests(llm) if "tools" not in r.body]
    assert len(answered) == 4 and all("More of a.py" in r.messages_text for r in answered)
    refused = [c for c in result.calls if c.error == "HTTP 400"]
    assert refused and len(result.calls) == len(llm.requests)

    again = run(llm, workspace)  # the endpoint's refusal is remembered

    assert again.status is RunStatus.DONE
    assert not [c for c in again.calls if c.error]


# --- vLLM: concurrent, its window in the models list, 400s for tools and overflow ----------


def test_vllm_window_comes_from_the_models_list_and_tools_fall_back(
    serve: Any, workspace: Path
) -> None:
    llm = serve(VLLM)
    script_tool_run(llm)

    result = run(llm, workspace)

    assert result.status is RunStatus.DONE, result.failures
    assert [r.path for r in llm.other_requests] == ["/v1/models"]
    assert all(r.body["max_tokens"] <= 4096 // 4 for r in llm.requests)
    assert any("does not take tool calls" in f for f in result.failures)


def test_vllm_context_overflow_names_the_setting(serve: Any, workspace: Path) -> None:
    llm = serve(VLLM)
    script_tool_run(llm)

    # A window larger than the server's: the synthesis, asking for 4,096 tokens of answer,
    # gets the server's 400, passed on with the setting to fix; the agents' answers are kept.
    result = run(llm, workspace, provider={"context_window": 100_000})

    assert result.status is RunStatus.PARTIAL
    assert "## Agent 1" in result.markdown
    (failure,) = [f for f in result.failures if f.startswith("synthesis:")]
    assert "maximum context length is 4096" in failure and "provider.context_window" in failure


# --- OpenAI-style: every option taken ------------------------------------------------------


def test_openai_style_requests_carry_json_mode_tool_choice_and_output_caps(
    serve: Any, workspace: Path
) -> None:
    llm = serve(OPENAI)
    script_tool_run(llm)

    result = run(
        llm,
        workspace,
        provider={"max_output_tokens": {"plan": 300, "agent": 700, "synthesis": 900}},
    )

    assert result.status is RunStatus.DONE, result.failures
    plan, *agents, synthesis = llm.requests
    assert plan.body["response_format"] == {"type": "json_object"}
    assert plan.body["max_tokens"] == 300 and synthesis.body["max_tokens"] == 900
    assert all(r.body["max_tokens"] == 700 for r in agents)
    assert all(r.body["tool_choice"] == "auto" for r in agents if "tools" in r.body)
    assert [c.label for c in result.calls][:1] == ["decompose 1"]


def test_a_refused_option_is_dropped_and_remembered(serve: Any, workspace: Path) -> None:
    llm = serve(
        Profile(
            refuses=(("response_format", "response_format is not supported"),),
        )
    )
    scenarios.script_run(llm, 2)

    first = run(llm, workspace, orchestrator={"parallel_agents": 2})
    second = run(llm, workspace, orchestrator={"parallel_agents": 2})

    assert first.status is second.status is RunStatus.DONE
    plans = [r for r in llm.requests if scenarios.DECOMPOSE in r.messages_text]
    assert ["response_format" in r.body for r in plans] == [True, False, False]


def test_a_cut_stream_with_no_overlap_is_retried(serve: Any, workspace: Path) -> None:
    llm = serve(OPENAI)
    llm.add(None, Reply(content="cut " * 30, truncate_after=3), times=1)
    scenarios.script_run(llm, 1)

    result = run(llm, workspace, orchestrator={"parallel_agents": 1})

    assert result.status is RunStatus.DONE
    assert [(c.label, c.error) for c in result.calls][:2] == [
        ("decompose 1", "APIConnectionError"),
        ("decompose 1", ""),
    ]


# --- one endpoint, several jobs ------------------------------------------------------------


def test_jobs_share_the_endpoints_slots(serve: Any, workspace: Path) -> None:
    llm = serve(LLAMA_CPP)
    script_tool_run(llm, agents=2, plan_delay=0.01)
    results: list[RunResult] = []
    jobs = [
        threading.Thread(
            target=lambda: results.append(
                run(
                    llm,
                    workspace,
                    provider={"max_concurrent_requests": 1},
                    orchestrator={"parallel_agents": 2},
                )
            )
        )
        for _ in range(2)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(60)

    assert [r.status for r in results] == [RunStatus.DONE, RunStatus.DONE]
    settled = llm.wait_settled()
    assert not any(r.cut_off for r in settled), "no job cut another's stream"


def test_agents_waiting_for_their_turn_keep_their_timeout_for_their_own_work(
    serve: Any, workspace: Path
) -> None:
    llm = serve(LLAMA_CPP)
    # The plan streams slowly: the first agent starts from its first sub-question and then
    # waits for the rest of the plan, the others for the plan and for each other.
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(3), chunk_delay=0.15))
    # Each agent works 0.8 s of its 2 s: three in a row on a one-request-at-a-time server,
    # after the plan, take longer than that for the later ones to have their turn.
    llm.add(
        scenarios.is_agent,
        lambda body: Reply(content=f"{ANSWER} (agent {scenarios.agent_number(body)}).", delay=0.8),
    )
    llm.add(scenarios.SYNTHESIS, Reply(content="## Summary\nIt divides by zero (`a.py:2`)."))
    progress = Progress()
    steps: set[tuple[int, str]] = set()
    progress.subscribe(lambda snapshot: steps.update((a.index, a.step) for a in snapshot.agents))
    config = validate(
        {
            "provider": {
                "base_url": llm.base_url,
                "model": "scripted-model",
                "max_concurrent_requests": 1,
            },
            "orchestrator": {"parallel_agents": 3, "task_timeout": 2, "phase_timeout": 60},
            "agent": {"tools": []},
            "cache": {"enabled": False},
        },
        "endpoint test",
    )
    client = LLMClient(config.provider, "test-key")
    try:
        result = Orchestrator(config, Workspace(workspace), client).run(REQUEST, None, progress)
    finally:
        client.close()

    assert result.status is RunStatus.DONE, result.failures
    assert [a.state for a in result.agents] == [AgentState.DONE] * 3
    assert all(a.answer.startswith(ANSWER) for a in result.agents)
    # Every agent waited its turn, and said so while it did.
    assert {index for index, step in steps if step == WAITING_STEP} == {0, 1, 2}
    assert not any(r.cut_off for r in llm.wait_settled())


def test_a_run_whose_endpoint_never_frees_a_turn_still_ends(serve: Any, workspace: Path) -> None:
    llm = serve(LLAMA_CPP)
    scenarios.script_run(llm, 2)
    stuck = CancelToken()
    # Another user of the endpoint in this process holds its only slot and never gives it back.
    with endpoint_for(llm.base_url, 1).slot(stuck):
        result = run(
            llm,
            workspace,
            provider={"max_concurrent_requests": 1},
            orchestrator={"parallel_agents": 2, "task_timeout": 60, "phase_timeout": 0.5},
        )

    assert result.status is RunStatus.FAILED
    assert "decomposition stopped after 0.5 s (orchestrator.phase_timeout)" in result.failures
    assert [a.state for a in result.agents] == [AgentState.FAILED] * 2
    assert all("orchestrator.phase_timeout" in a.error for a in result.agents)
    assert llm.requests == [], "nothing was sent past the stuck request"


def test_single_strategy_runs_queued_behind_each_other_keep_their_timeout(
    serve: Any, workspace: Path
) -> None:
    llm = serve(LLAMA_CPP)
    # Each answer takes 0.8 s of a 1.5 s timeout: the second run has its turn after the
    # first's answer, and its wait does not count.
    llm.add("expert engineer answering", Reply(content=f"{ANSWER}.", delay=0.8))
    results: list[RunResult] = []

    def single() -> None:
        results.append(
            run(
                llm,
                workspace,
                provider={"max_concurrent_requests": 1},
                orchestrator={"strategy": "single", "task_timeout": 1.5, "phase_timeout": 60},
            )
        )

    runs = [threading.Thread(target=single) for _ in range(2)]
    for each in runs:
        each.start()
    for each in runs:
        each.join(60)

    assert [r.status for r in results] == [RunStatus.DONE, RunStatus.DONE], [
        r.failures for r in results
    ]
    assert len(llm.requests) == 2


# --- answers that are not answers ----------------------------------------------------------


def test_garbage_answers_get_one_corrective_retry_then_fail(serve: Any, workspace: Path) -> None:
    llm = serve(OPENAI)
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(3)))

    def agent(body: dict[str, Any]) -> Reply:
        number = scenarios.agent_number(body)
        corrected = "not usable" in json.dumps(body["messages"])
        if number == 1:  # a JSON blob first, then a real answer
            return Reply(content=f"{ANSWER}." if corrected else '{"answer": 42}')
        if number == 2:  # a call to a tool that does not exist, written as text, twice
            return Reply(content='{"name": "grep", "arguments": {"q": "x"}}')
        return Reply(content=body["messages"][1]["content"])  # its prompt, repeated

    llm.add(scenarios.is_agent, agent)
    llm.add(scenarios.SYNTHESIS, Reply(content="## Summary\nIt divides by zero (`a.py:2`)."))

    result = run(llm, workspace, orchestrator={"parallel_agents": 3}, agent={"tools": []})

    assert [a.state for a in result.agents] == [
        AgentState.DONE,
        AgentState.FAILED,
        AgentState.FAILED,
    ]
    assert result.status is RunStatus.PARTIAL
    assert "tool call written as text" in result.agents[1].error
    assert "repeats its prompt" in result.agents[2].error
    assert len(agent_requests(llm)) == 6, "one retry each"


def test_a_synthesis_echoing_its_input_keeps_the_answers_and_says_why(
    serve: Any, workspace: Path
) -> None:
    llm = serve(OPENAI)
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm.add(
        scenarios.is_agent,
        lambda body: Reply(content=f"{ANSWER} (agent {scenarios.agent_number(body)})."),
    )
    llm.add(scenarios.SYNTHESIS, lambda body: Reply(content=body["messages"][-1]["content"]))

    result = run(llm, workspace, orchestrator={"parallel_agents": 2})

    assert result.status is RunStatus.PARTIAL
    assert "## Agent 1" in result.markdown and ANSWER in result.markdown
    assert any(f.startswith("synthesis: unusable answer") for f in result.failures)


def test_a_review_without_findings_block_says_so(serve: Any, workspace: Path) -> None:
    llm = serve(OPENAI)
    scenarios.script_run(llm, 2, synthesis="## Review\nDivision by zero at `a.py:2`.")
    review = selection_request(Mode.REVIEW, "a.py", SAMPLE, 2, 2, 6000)

    result = run(llm, workspace, review, orchestrator={"parallel_agents": 2})

    assert result.status is RunStatus.DONE
    assert any("no findings block" in f for f in result.failures)


# --- the language server on a local one-request-at-a-time server ---------------------------


async def test_the_language_server_on_a_llama_cpp_server_chosen_by_the_workspace(
    tmp_path: Path,
) -> None:
    with ScriptedLLMServer(profile=LLAMA_CPP) as llm:
        script_tool_run(llm, agents=2, plan_delay=0.02)
        # The workspace's own file picks the local server (no key goes to it) and its limit.
        async with editor(tmp_path, llm, env={"DEEPTHINK_BASE_URL": ""}) as ed:
            (ed.root / ".deepthink.yaml").write_text(
                f"provider:\n  base_url: {llm.base_url}\n  max_concurrent_requests: 1\n"
                "orchestrator:\n  parallel_agents: 2\n"
            )
            ed.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(None))
            uri = ed.open("a.py", SOURCE)

            reply = await ed.run(uri, DIVIDE, "explain")
            progress = await ed.progress_end(reply["job"])

        requests = llm.wait_settled()
    assert progress[-1].message.startswith("done"), progress[-1].message
    assert "2 of 2 agents answered" in progress[-1].message
    assert not any(r.cut_off or r.aborted for r in requests)
    assert all("test-key" not in r.headers.get("authorization", "") for r in requests)


def reports(ed: Any, token: str) -> list[str]:
    """The messages of a job's progress reports so far."""
    values: list[Any] = ed.client.progress_reports.get(token, [])
    return [v.message or "" for v in values if isinstance(v, types.WorkDoneProgressReport)]


async def test_a_job_queued_behind_another_says_so_and_cancels_at_once(tmp_path: Path) -> None:
    release = threading.Event()

    def held_plan(body: dict[str, Any]) -> Reply:
        release.wait(30)  # the first job keeps the server's only slot until the test is done
        return Reply(content=scenarios.plan(2))

    with ScriptedLLMServer(profile=LLAMA_CPP) as llm:
        llm.add(scenarios.DECOMPOSE, held_plan)
        llm.add(scenarios.is_agent, read_then_answer)
        llm.add(scenarios.SYNTHESIS, Reply(content="## Summary\nIt divides by zero (`a.py:2`)."))
        try:
            async with editor(tmp_path, llm) as ed:
                (ed.root / ".deepthink.yaml").write_text(
                    "provider:\n  max_concurrent_requests: 1\n"
                )
                ed.client.workspace_did_change_configuration(
                    types.DidChangeConfigurationParams(None)
                )
                uri = ed.open("a.py", SOURCE)
                first = await ed.run(uri, DIVIDE, "explain")
                await asyncio.to_thread(llm.wait_for_requests, 1, 15)

                second = await ed.run(uri, DIVIDE, "ask", question="Is the second job waiting?")
                waiting = await wait_until(
                    lambda: [m for m in reports(ed, second["job"]) if WAITING_STEP in m],
                    "the second job to say it waits for the endpoint",
                )
                stopped = await ed.command("deepthink.cancel", {"job": second["job"]})
                second_end = await ed.progress_end(second["job"])
                held = not release.is_set()
                release.set()
                first_end = await ed.progress_end(first["job"])
                logged = [m.message for m in ed.client.log_messages]
        finally:
            release.set()
        requests = llm.wait_settled()

    assert waiting[0].startswith("waiting for the endpoint · ")
    assert all(len(message) <= 60 for message in waiting)
    assert any("decomposing (waiting for the endpoint)" in message for message in logged)
    assert stopped == 1 and held, "cancelled while the first job still held the endpoint"
    assert second_end[-1].message == "cancelled"
    assert not any("second job" in r.messages_text for r in requests), "nothing sent for it"
    assert first_end[-1].message.startswith("done"), first_end[-1].message


def test_a_single_agents_answer_repeated_is_a_fair_synthesis(serve: Any, workspace: Path) -> None:
    llm = serve(OPENAI)
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    llm.add(scenarios.is_agent, Reply(content=f"{ANSWER}.\nIt should check `b` first."))
    llm.add(scenarios.SYNTHESIS, Reply(content=f"{ANSWER}.\nIt should check `b` first."))

    result = run(llm, workspace, orchestrator={"parallel_agents": 1})

    assert result.status is RunStatus.DONE, result.failures
    assert result.markdown.startswith(ANSWER)
