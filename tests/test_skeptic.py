"""The skeptic pass: every merged finding checked by a call that tries to refute it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from orchestrator.cancel import CancelToken
from orchestrator.engine import Orchestrator
from orchestrator.progress import Phase, Progress, Snapshot
from orchestrator.result import RunResult, RunStatus
from orchestrator.skeptic import verdict
from tests import scenarios
from tests.llm_server import Reply, ScriptedLLMServer
from tests.test_review_findings import PROSE, REVIEW, finding

Make = Callable[..., Orchestrator]
FINDINGS = [
    finding(2, "b may be zero", "return a / b", "error"),
    finding(5, "the call divides by zero", "print(divide(1, 0))"),
]
REFUTED = '{"verdict": "refuted", "reason": "line 5 is a demo the author means to fail"}'


def skeptic_requests(llm: ScriptedLLMServer) -> list[Any]:
    return [r for r in llm.requests if scenarios.SKEPTIC in r.messages_text]


def test_refuted_findings_leave_the_findings_and_stay_in_rejected_with_the_reason(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    def skeptic(body: dict[str, Any]) -> Reply:
        refute = '"start_line": 5' in body["messages"][-1]["content"]
        return Reply(content=REFUTED if refute else scenarios.CONFIRMED)

    llm_server.add(scenarios.SKEPTIC, skeptic)
    scenarios.script_run(
        llm_server,
        2,
        answer="Found problems." + scenarios.findings_block(FINDINGS),
        synthesis=PROSE + scenarios.findings_block([]),
    )
    snapshots: list[Snapshot] = []
    progress = Progress()
    progress.subscribe(snapshots.append)

    result = make_orchestrator(orchestrator={"parallel_agents": 2}).run(REVIEW, progress=progress)

    assert result.status is RunStatus.DONE
    assert [(f.start_line, f.agreement) for f in result.findings] == [(2, "(2/2 agents)")]
    assert [(r.finding.start_line, r.reason) for r in result.rejected] == [
        (5, "line 5 is a demo the author means to fail")
    ]
    assert result.to_dict()["rejected"][0]["finding"]["agents"] == (1, 2)
    checks = skeptic_requests(llm_server)
    assert len(checks) == 2
    assert all("    2|     return a / b" in r.messages_text for r in checks)  # numbered code
    assert [p.phase for p in result.phases] == ["plan", "agents", "synthesis", "verify"]
    phases = [s.phase for s in snapshots]
    assert (
        phases.index(Phase.SYNTHESISING) < phases.index(Phase.VERIFYING) < phases.index(Phase.DONE)
    )


def test_verification_off_or_bounded_sends_fewer_checks(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.SKEPTIC, Reply(content=REFUTED))
    scenarios.script_run(
        llm_server,
        2,
        answer="Found problems." + scenarios.findings_block(FINDINGS),
        synthesis=PROSE + scenarios.findings_block([]),
    )
    off = make_orchestrator(orchestrator={"parallel_agents": 2}, review={"verify": False})
    assert len(off.run(REVIEW).findings) == 2
    assert skeptic_requests(llm_server) == []

    one = make_orchestrator(orchestrator={"parallel_agents": 2}, review={"max_verified": 1})
    result = one.run(REVIEW)
    # The most severe of the findings both agents raised is the one checked.
    assert [r.finding.start_line for r in result.rejected] == [2]
    assert [f.start_line for f in result.findings] == [5]
    assert "1 finding(s) kept unverified (review.max_verified is 1)" in result.failures


def test_a_failing_skeptic_keeps_every_finding_with_a_warning(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.SKEPTIC, Reply(status=500, error_message="overloaded"))
    scenarios.script_run(
        llm_server,
        2,
        answer="Found problems." + scenarios.findings_block(FINDINGS),
        synthesis=PROSE + scenarios.findings_block([]),
    )
    result = make_orchestrator(orchestrator={"parallel_agents": 2}).run(REVIEW)
    assert result.status is RunStatus.DONE
    assert [f.start_line for f in result.findings] == [2, 5]
    assert result.rejected == []
    assert any(f.startswith("verification failed for 2 finding(s)") for f in result.failures)


def test_cancel_during_verification_stops_its_calls_and_keeps_the_synthesis(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(scenarios.SKEPTIC, Reply(content=REFUTED, delay=30))
    scenarios.script_run(
        llm_server,
        2,
        answer="Found problems." + scenarios.findings_block(FINDINGS),
        synthesis=PROSE + scenarios.findings_block([]),
    )
    orchestrator = make_orchestrator(orchestrator={"parallel_agents": 2})
    token = CancelToken()
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(orchestrator.run(REVIEW, token)))
    thread.start()
    llm_server.wait_for_requests(6, timeout=10)  # plan, 2 agents, synthesis, 2 checks
    token.cancel()
    thread.join(10)
    assert not thread.is_alive(), "run returned after cancel"
    result = results[0]
    assert result.status is RunStatus.CANCELLED
    assert result.markdown == PROSE
    assert [f.start_line for f in result.findings] == [2, 5]  # unverified, not thrown away
    checks = [r for r in llm_server.wait_settled() if scenarios.SKEPTIC in r.messages_text]
    assert len(checks) == 2 and all(r.aborted for r in checks)


def test_verdicts_are_read_from_near_json_and_anything_else_refutes_nothing() -> None:
    assert verdict("Sure: {'verdict': 'Refuted', 'reason': 'guarded at line 1',}") == (
        True,
        "guarded at line 1",
    )
    assert verdict('{"verdict": "confirmed"}') == (False, "")
    assert verdict("I think it is refuted.") == (False, "")
