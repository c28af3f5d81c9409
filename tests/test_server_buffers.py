"""Unsaved edits: agents read, and findings are checked against, the code the user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.llm_server import Reply, ScriptedLLMServer, ToolCall
from tests.lsp_harness import AGENTS, SOURCE, editor, lines_range, wait_until
from tests.scenarios import CONFIRMED, DECOMPOSE, SKEPTIC, SYNTHESIS, findings_block, is_agent, plan

GUARD = '    assert b != 0, "b must not be zero"'


def tool_results(body: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in body["messages"] if m["role"] == "tool"]


async def test_a_review_of_unsaved_code_reads_and_grounds_the_editors_text(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    # The guard is typed above `return a / b` and not saved: on disk, line 5 is the return.
    finding = {
        "path": "a.py",
        "start_line": 5,
        "end_line": 5,
        "severity": "warning",
        "message": "An assert vanishes under python -O: raise ValueError instead.",
        "quote": GUARD.strip(),
    }

    def agent(body: dict[str, Any]) -> Reply:
        if not tool_results(body):
            return Reply(
                tool_calls=[
                    ToolCall("read_file", {"path": "a.py"}),
                    ToolCall("search", {"pattern": "must not be zero"}),
                ]
            )
        return Reply(content="The guard is an assert." + findings_block([finding]))

    llm_server.add(DECOMPOSE, Reply(content=plan(AGENTS)))
    llm_server.add(is_agent, agent)
    llm_server.add(SYNTHESIS, Reply(content="The guard is an assert (`a.py:5`)."))
    llm_server.add(SKEPTIC, Reply(content=CONFIRMED))
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        above_return = types.Position(4, 0)
        ed.type(uri, types.Range(above_return, above_return), GUARD + "\n")
        selection = lines_range(3, 5, ed.text(uri))

        reply = await ed.run(uri, selection, "review", output="hover")
        end = await ed.progress_end(reply["job"])
        (diagnostic,) = await wait_until(
            lambda: list(ed.client.diagnostics.get(uri, [])), "the finding as a diagnostic"
        )

    assert (ed.root / "a.py").read_text() == SOURCE, "the edit was never saved"
    seen = [found for request in llm_server.requests if (found := tool_results(request.body))]
    assert len(seen) == AGENTS  # each agent's second turn
    for read, search in seen:
        assert f"   5| {GUARD}\n   6|     return a / b" in read
        assert search == f"a.py:5: {GUARD.strip()}"
    assert "dropped" not in str(end)
    assert diagnostic.range.start.line == 4  # the guard's line, in the buffer
    assert diagnostic.message.startswith("An assert vanishes under python -O")
