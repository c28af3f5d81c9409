"""The single strategy: one call with the same context, the same result shape."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.engine import Orchestrator
from orchestrator.result import RunStatus
from tests import scenarios
from tests.llm_server import Reply, ScriptedLLMServer
from tests.test_review_findings import PROSE, REVIEW, finding

Make = Callable[..., Orchestrator]
SINGLE = "expert engineer answering"  # in prompts.SINGLE_SYSTEM
ANSWER = PROSE + scenarios.findings_block(
    [
        finding(7, "b may be zero", "return a / b", "error"),  # really line 2
        finding(1, "the file is deleted unchecked", "os.remove(path)"),  # not in a.py
    ]
)


def test_single_is_one_call_with_grounded_findings(
    llm_server: ScriptedLLMServer, make_orchestrator: Make
) -> None:
    llm_server.add(SINGLE, Reply(content=ANSWER))

    result = make_orchestrator(orchestrator={"strategy": "single"}).run(REVIEW)

    (request,) = [r for r in llm_server.requests if r.path.endswith("/chat/completions")]
    assert "findings" in request.body["messages"][0]["content"]
    assert "Review the selected code at a.py:2-2" in request.messages_text
    assert result.status is RunStatus.DONE
    assert result.markdown == PROSE and result.agents == []
    assert [(f.start_line, f.message) for f in result.findings] == [(2, "b may be zero")]
    assert "1 finding dropped: the cited code is not in the file" in result.failures
    assert [phase.phase for phase in result.phases] == ["single"]


def test_single_that_fails_says_why(llm_server: ScriptedLLMServer, make_orchestrator: Make) -> None:
    llm_server.add(SINGLE, Reply(status=400, error_message="model not found"))
    result = make_orchestrator(orchestrator={"strategy": "single"}).run(REVIEW)
    assert result.status is RunStatus.FAILED
    assert result.failures and "model not found" in result.failures[0]
