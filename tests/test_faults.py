"""Endpoint faults at the engine level: every run ends, with what succeeded kept."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.engine import Orchestrator
from orchestrator.request import Mode, Request
from orchestrator.result import RunResult, RunStatus
from tests import scenarios
from tests.llm_server import Reply, ScriptedLLMServer, ToolCall

REQUEST = Request(Mode.REVIEW, "a.py", "    return a / b", 2, 2)


def test_read_timeout_is_reported_with_the_setting_to_change(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm_server.add(scenarios.is_agent, Reply(content="slow", delay=10))
    result = make_orchestrator(
        provider={"request_timeout": 0.3}, orchestrator={"parallel_agents": 2}
    ).run(REQUEST)
    assert result.status is RunStatus.FAILED
    assert all(
        "did not answer within 0.3 s (provider.request_timeout)" in a.error for a in result.agents
    )


def test_unknown_model_names_the_setting(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    llm_server.add(None, Reply(status=404, error_message="The model `nope` does not exist"))
    result = make_orchestrator(provider={"model": "nope"}).run(REQUEST)
    assert result.status is RunStatus.FAILED
    assert "404 for model 'nope': check provider.model" in result.failures[0]


def test_twenty_jobs_against_a_flaky_endpoint_all_end(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    chance = random.Random(20)
    lock = threading.Lock()

    def flaky(body: dict[str, Any]) -> Reply:
        with lock:
            roll = chance.random()
        if roll < 0.12:
            return Reply(status=500)
        if roll < 0.20:
            return Reply(status=429, headers={"Retry-After": "0"})
        if roll < 0.28:
            return Reply(content="cut off " * 20, truncate_after=2)
        if roll < 0.34:
            return Reply(raw_body="<html>Bad Gateway</html>", status=200)
        if roll < 0.40 and scenarios.is_agent(body):
            return Reply(tool_calls=[ToolCall("read_file", "{broken"), ToolCall("nope", {})])
        if scenarios.DECOMPOSE in json_text(body):
            return Reply(content=scenarios.plan(2))
        if scenarios.SYNTHESIS in json_text(body):
            return Reply(content="merged" + scenarios.findings_block([]))
        return Reply(content="an answer", delay=0.01)

    llm_server.add(None, flaky)
    orchestrator = make_orchestrator(
        provider={"max_retries": 1}, orchestrator={"parallel_agents": 2, "task_timeout": 20}
    )
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(orchestrator.run, REQUEST) for _ in range(20)]
        results: list[RunResult] = [future.result(timeout=60) for future in futures]

    statuses = {result.status for result in results}
    assert statuses <= {RunStatus.DONE, RunStatus.PARTIAL, RunStatus.FAILED}
    assert RunStatus.DONE in statuses or RunStatus.PARTIAL in statuses
    for result in results:
        if result.status is RunStatus.FAILED:
            assert result.failures, "a failed run says why"
        else:
            assert result.markdown
    settled = llm_server.wait_settled(timeout=10)
    assert all(r.finished or r.aborted for r in settled), "no request left hanging"


def json_text(body: dict[str, Any]) -> str:
    return str(body.get("messages"))
