"""What a run cost, per phase, in tokens and money; and the token budget that caps it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator.engine import Orchestrator
from orchestrator.llm import Usage
from orchestrator.request import Mode, Request
from tests import scenarios
from tests.llm_server import ScriptedLLMServer

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
