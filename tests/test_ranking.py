"""Peer ranking (council.rank): agents rank each other's answers blind, before synthesis."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.cancel import CancelToken
from orchestrator.engine import Orchestrator
from orchestrator.ranking import aggregate, ballot
from orchestrator.request import Mode, Request
from orchestrator.result import Rank, RunResult, RunStatus
from tests import scenarios
from tests.llm_server import RecordedRequest, Reply, ScriptedLLMServer

Make = Callable[..., Orchestrator]
REQUEST = Request(Mode.EXPLAIN, "a.py", "    return a / b", 2, 2)
RANKER = "You judge"  # in prompts.RANK_SYSTEM
WORDS = {1: "alpha", 2: "bravo", 3: "charlie"}
PREFERENCE = ["bravo", "alpha", "charlie"]  # every ranker's taste
RANKED = {"orchestrator": {"parallel_agents": 3}, "council": {"rank": True}}


def shown(body: dict[str, Any]) -> dict[str, str]:
    """The responses a ranker was shown: letter -> the word its answer is about."""
    text = body["messages"][-1]["content"]
    return dict(re.findall(r"## Response (\w+)\nThe answer about (\w+)", text))


def rank_by_preference(body: dict[str, Any]) -> Reply:
    letters = {word: letter for letter, word in shown(body).items()}
    order = [letters[word] for word in PREFERENCE if word in letters]
    return Reply(content=json.dumps({"ranking": order}))


def script(llm: ScriptedLLMServer, ranker: Reply | Callable[[dict[str, Any]], Reply]) -> None:
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(3)))
    llm.add(
        scenarios.is_agent,
        lambda body: Reply(
            content=f"The answer about {WORDS[scenarios.agent_number(body)]}: it divides by b."
        ),
    )
    llm.add(RANKER, ranker)
    llm.add(scenarios.SYNTHESIS, Reply(content=scenarios.SYNTHESIS_TEXT))


def rankings(llm: ScriptedLLMServer) -> list[RecordedRequest]:
    return [r for r in llm.requests if RANKER in r.messages_text]


def test_blind_rankings_are_aggregated_and_reach_the_synthesis(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    script(llm_server, rank_by_preference)

    result = make_orchestrator(**RANKED).run(REQUEST)

    assert result.status is RunStatus.DONE
    assert result.ranking == [Rank(2, 1.0, 2), Rank(1, 1.5, 2), Rank(3, 2.0, 2)]
    assert result.to_dict()["ranking"][0] == {"agent": 2, "average_place": 1.0, "votes": 2}
    requests = rankings(llm_server)
    assert len(requests) == 3
    for request in requests:
        # Each ranker sees the two other answers, and nothing saying whose they are.
        assert sorted(shown(request.body)) == ["A", "B"]
        assert not re.search(r"role \d|Agent \d|scripted-model", request.messages_text)
    orders = [list(shown(r.body).values()) for r in requests]
    assert any(order != sorted(order) for order in orders), "the answers are shuffled"
    synthesis = [r for r in llm_server.requests if scenarios.SYNTHESIS in r.messages_text][-1]
    assert "# Peer ranking" in synthesis.messages_text
    assert "1. Agent 2 (average place 1.0 over 2 rankings)" in synthesis.messages_text
    assert [p.phase for p in result.phases] == ["plan", "agents", "rank", "synthesis"]


def test_a_failing_ranker_leaves_the_others_and_a_warning(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    def flaky(body: dict[str, Any]) -> Reply:
        if "bravo" not in shown(body).values():  # agent 2 ranks: it fails
            return Reply(status=500, error_message="overloaded")
        return rank_by_preference(body)

    script(llm_server, flaky)
    result = make_orchestrator(**RANKED).run(REQUEST)
    assert result.status is RunStatus.DONE
    assert [rank.agent for rank in result.ranking] == [2, 1, 3]
    assert any(f.startswith("ranking failed for 1 ranker(s)") for f in result.failures)


def test_ranking_needs_three_answers(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    scenarios.script_run(llm_server, 2)
    result = make_orchestrator(orchestrator={"parallel_agents": 2}, council={"rank": True}).run(
        REQUEST
    )
    assert result.ranking == [] and rankings(llm_server) == []
    assert any("needs 3 answers or more" in f for f in result.failures)


def test_cancel_during_ranking_stops_its_calls_and_sends_no_synthesis(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    script(llm_server, Reply(content='{"ranking": ["A", "B"]}', delay=30))
    orchestrator = make_orchestrator(**RANKED)
    token = CancelToken()
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(orchestrator.run(REQUEST, token)))
    thread.start()
    llm_server.wait_for_requests(7, timeout=10)  # the plan, 3 agents, 3 rankers
    token.cancel()
    thread.join(10)
    assert not thread.is_alive(), "run returned after cancel"
    assert results[0].status is RunStatus.CANCELLED
    assert "The answer about alpha" in results[0].markdown  # the agents' answers are kept
    settled = llm_server.wait_settled()
    assert all(r.aborted for r in settled if RANKER in r.messages_text)
    assert not any(scenarios.SYNTHESIS in r.messages_text for r in settled)


def test_ballots_skip_unknown_and_repeated_letters_and_aggregate_by_average_place() -> None:
    letters = {"A": 3, "B": 1}
    assert ballot("{'ranking': ['Response B', 'b', 'Z', 'A']}", letters) == [1, 3]
    assert ballot("no idea", letters) == []
    assert aggregate([[1, 3], [3], [1]]) == [Rank(1, 1.0, 2), Rank(3, 1.5, 2)]
