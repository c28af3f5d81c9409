"""Reviews: every agent's findings grounded in the file and merged where agents agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.engine import Orchestrator
from orchestrator.request import Mode, Request
from orchestrator.result import RunStatus, Severity
from tests import scenarios
from tests.llm_server import Reply, ScriptedLLMServer

Make = Callable[..., Orchestrator]
REVIEW = Request(Mode.REVIEW, "a.py", "    return a / b", 2, 2)
PROSE = "The function divides by `b` without checking that it is not zero."


def finding(line: int, message: str, quote: str, severity: str = "warning") -> dict[str, Any]:
    return {
        "path": "a.py",
        "start_line": line,
        "end_line": line,
        "severity": severity,
        "message": message,
        "quote": quote,
    }


def script_agents(
    llm: ScriptedLLMServer, blocks: dict[int, list[dict[str, Any]]], synthesis: str
) -> None:
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(len(blocks))))
    llm.add(
        scenarios.is_agent,
        lambda body: Reply(
            content=f"Agent {scenarios.agent_number(body)} looked."
            + scenarios.findings_block(blocks[scenarios.agent_number(body)])
        ),
    )
    llm.add(scenarios.SYNTHESIS, Reply(content=synthesis))


def test_agents_are_asked_for_findings_quoting_the_code(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    script_agents(llm_server, {1: [], 2: []}, PROSE + scenarios.findings_block([]))
    make_orchestrator(orchestrator={"parallel_agents": 2}).run(REVIEW)
    agents = [r for r in llm_server.requests if scenarios.is_agent(r.body)]
    assert agents and all('"quote"' in r.body["messages"][0]["content"] for r in agents)


def test_a_hallucinated_finding_is_dropped_and_a_misnumbered_one_moved(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    blocks = {
        1: [finding(4, "b may be zero", "return a / b", "error")],  # really line 2
        2: [finding(1, "the file is deleted unchecked", "os.remove(path)")],  # not in a.py
    }
    script_agents(llm_server, blocks, PROSE + scenarios.findings_block([]))

    result = make_orchestrator(orchestrator={"parallel_agents": 2}).run(REVIEW)

    assert result.status is RunStatus.DONE
    assert [(f.start_line, f.message, f.agents) for f in result.findings] == [
        (2, "b may be zero", (1,))
    ]
    assert "1 finding dropped: the cited code is not in the file" in result.failures
    # The agents' prose reaches the synthesis without the blocks, their findings listed.
    synthesis = [r for r in llm_server.requests if scenarios.SYNTHESIS in r.messages_text][-1]
    assert "```findings" not in synthesis.messages_text
    assert "- a.py:4-4 (error): b may be zero" in synthesis.messages_text
    assert [a.answer for a in result.agents] == ["Agent 1 looked.", "Agent 2 looked."]


def test_agents_agreeing_in_different_words_are_merged_and_counted(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    blocks = {
        1: [finding(2, "Division by zero when b is 0", "return a / b")],
        2: [finding(2, "ZeroDivisionError if b == 0", "a / b", "error")],
        3: [finding(5, "the result is printed, never checked", "print(divide(1, 0))")],
    }
    synthesis = [
        finding(2, "b == 0 raises a division by zero error", "return a / b"),
        finding(1, "divide has no type hints", "def divide(a, b):", "hint"),
    ]
    script_agents(llm_server, blocks, PROSE + scenarios.findings_block(synthesis))

    result = make_orchestrator(orchestrator={"parallel_agents": 3}).run(REVIEW)

    assert [(f.start_line, f.severity, f.agents, f.agreement) for f in result.findings] == [
        (2, Severity.ERROR, (1, 2), "(2/3 agents)"),
        (5, Severity.WARNING, (3,), "(1/3 agents)"),
        (1, Severity.HINT, (), ""),  # the synthesis' own
    ]
    assert result.findings[0].message == "Division by zero when b is 0"
    data = result.to_dict()["findings"][0]
    assert (data["agents"], data["of_agents"], data["quote"]) == ((1, 2), 3, "return a / b")


def test_min_agreement_leaves_out_findings_too_few_agents_raised(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    blocks = {
        1: [finding(2, "Division by zero when b is 0", "return a / b")],
        2: [finding(2, "b can be zero: division by zero", "return a / b")],
        3: [finding(5, "the result is printed, never checked", "print(divide(1, 0))")],
    }
    script_agents(llm_server, blocks, PROSE + scenarios.findings_block([]))

    result = make_orchestrator(
        orchestrator={"parallel_agents": 3}, review={"min_agreement": 2}
    ).run(REVIEW)

    assert [(f.start_line, f.agents) for f in result.findings] == [(2, (1, 2))]
    assert any("1 finding left out" in f and "min_agreement" in f for f in result.failures)


def test_near_json_findings_from_a_weak_model_are_read(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))
    weak = (
        "Looked.\n```findings\n[{'path': 'a.py', 'line': '2-2', 'severity': 'Error', "
        "'message': 'b may be zero', 'quote': 'return a / b',},]\n"  # no closing fence
    )
    llm_server.add(scenarios.is_agent, Reply(content=weak))
    llm_server.add(scenarios.SYNTHESIS, Reply(content=PROSE + "\n```findings\n[]\n```"))

    result = make_orchestrator(orchestrator={"parallel_agents": 1}).run(REVIEW)

    assert [(f.start_line, f.severity, f.agents) for f in result.findings] == [
        (2, Severity.ERROR, (1,))
    ]
    assert result.agents[0].answer == "Looked."


def test_a_citation_of_a_line_the_file_lacks_is_reported(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    scenarios.script_run(
        llm_server, 1, synthesis="It divides at `a.py:2`, not at a.py:99 or `a.py:40-41`."
    )
    result = make_orchestrator(orchestrator={"parallel_agents": 1}).run(REVIEW)
    assert result.bad_citations == ["a.py:99", "a.py:40"]
    assert any("2 citations of a line the file does not have" in f for f in result.failures)


def test_the_agents_findings_survive_a_failed_synthesis(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    blocks = {1: [finding(2, "b may be zero", "return a / b")], 2: []}
    script_agents(llm_server, blocks, "Ok.")  # unusable, twice

    result = make_orchestrator(orchestrator={"parallel_agents": 2}).run(REVIEW)

    assert result.status is RunStatus.PARTIAL
    assert [(f.start_line, f.agreement) for f in result.findings] == [(2, "(1/2 agents)")]
