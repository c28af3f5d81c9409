"""What differs between LSP clients: how they report edits, whether they can prompt, what a
review diff is run on. The real server over stdio, the scripted LLM server over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from tests.gitrepo import git
from tests.llm_server import ScriptedLLMServer
from tests.lsp_harness import (
    AGENTS,
    COMMENTED,
    DIVIDE,
    SOURCE,
    SYNTHESIS_TEXT,
    EditStyle,
    editor,
    wait_until,
)
from tests.scenarios import AGENT, findings_block, script_run


@pytest.mark.parametrize("style", ["insert", "neovim", "whole"])
async def test_the_hover_and_findings_survive_the_inserted_comment_however_it_is_reported(
    tmp_path: Path, llm_server: ScriptedLLMServer, style: EditStyle
) -> None:
    finding = {"path": "a.py", "start_line": 5, "end_line": 5, "severity": "warning"}
    synthesis = SYNTHESIS_TEXT + findings_block([{**finding, "message": "b may be 0."}])
    script_run(llm_server, AGENTS, synthesis=synthesis)
    async with editor(tmp_path, llm_server) as ed:
        ed.edit_style = style
        uri = ed.open("a.py", SOURCE)

        reply = await ed.run(uri, DIVIDE, "review")
        await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")
        lines = ed.text(uri).split("\n")
        hover = await ed.hover(uri, lines.index("def divide(a, b):"))
        above = await ed.hover(uri, lines.index("def divide(a, b):") - 1)
        diagnostics = await wait_until(
            lambda: (
                [d.range.start.line for d in ed.client.diagnostics.get(uri, [])]
                == [lines.index("    return a / b")]
            ),
            "the finding on `return`",
        )

    assert ed.text(uri).startswith("import math\n\n\n# Deep think — review:\n")
    assert hover is not None and "It divides by zero" in str(hover.contents)
    assert above is None  # the comment is not the code
    assert diagnostics


async def test_ask_without_a_question_offers_common_ones_and_asks_the_one_picked(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis="It has no tests.")
    async with editor(tmp_path, llm_server) as ed:
        ed.pick = lambda params: params.actions[-1].title if params.actions else None
        uri = ed.open("a.py", SOURCE)

        reply = await ed.run(uri, DIVIDE, "ask")
        await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")

    (asked,) = ed.asked
    assert "which question about a.py:4-5" in asked.message
    question = "How should this be tested?"
    assert [action.title for action in asked.actions or []][-1] == question
    agent_prompts = [r.messages_text for r in llm_server.requests if AGENT in r.messages_text]
    assert agent_prompts and all(question in prompt for prompt in agent_prompts)
    assert f"# Deep think — question: {question}\n" in ed.text(uri)


async def test_ask_with_no_question_picked_asks_nothing(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)  # ed.pick answers None: the user dismissed the choice

        await ed.run(uri, DIVIDE, "ask")
        notice = await ed.message("no question was picked")

    assert notice.type == types.MessageType.Info
    assert llm_server.requests == []
    assert ed.edits == []


async def test_review_diff_needs_no_selection_and_never_inserts_a_comment(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    finding = {"path": "a.py", "start_line": 5, "end_line": 5, "severity": "warning"}
    synthesis = "The new guard hides the error." + findings_block(
        [{**finding, "message": "0.0 hides a division by zero."}]
    )
    script_run(llm_server, AGENTS, synthesis=synthesis)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        git(ed.root, "init", "-q")
        git(ed.root, "add", "a.py")
        git(ed.root, "commit", "-q", "-m", "initial")
        ed.type(uri, types.Range(types.Position(4, 16), types.Position(4, 16)), " if b else 0.0")

        reply = await ed.command("deepthink.run", {"uri": uri, "mode": "review-diff"})
        await ed.progress_end(reply["job"])
        notice = await ed.message("reviewed the changes of a.py")
        diagnostics = await wait_until(
            lambda: ed.client.diagnostics.get(uri), "the finding to be published"
        )
        on_change = await ed.hover(uri, 4)
        elsewhere = await ed.hover(uri, 8)
        result = await ed.command("deepthink.result", {"uri": uri})

    assert ed.edits == []
    assert "1 finding in the problems list" in notice.message
    assert [d.range.start.line for d in diagnostics] == [4]
    assert on_change is not None and "The new guard hides the error." in str(on_change.contents)
    assert elsewhere is None
    assert result["mode"] == "review-diff" and result["status"] == "done"
    assert "The new guard hides the error." in result["markdown"]
    assert "+    return a / b if b else 0.0" in llm_server.requests[0].messages_text


async def test_review_diff_of_the_workspace_reviews_every_changed_file(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    finding = {"path": "b.py", "start_line": 1, "end_line": 1, "severity": "error"}
    synthesis = "b.py now fails." + findings_block([{**finding, "message": "NameError."}])
    script_run(llm_server, AGENTS, synthesis=synthesis)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        (ed.root / "b.py").write_text("x = 1\n", encoding="utf-8")
        git(ed.root, "init", "-q")
        git(ed.root, "add", "a.py", "b.py")
        git(ed.root, "commit", "-q", "-m", "initial")
        (ed.root / "b.py").write_text("x = y\n", encoding="utf-8")

        # A client without an open editor names the folder (VS Code's Source Control view).
        folder = from_fs_path(str(ed.root))
        arguments = {"uri": folder, "mode": "review-diff", "scope": "workspace"}
        reply = await ed.command("deepthink.run", arguments)
        await ed.progress_end(reply["job"])
        await ed.message("reviewed the changes of the workspace")
        b_uri = uri.replace("a.py", "b.py")
        diagnostics = await wait_until(
            lambda: ed.client.diagnostics.get(b_uri), "the finding in b.py"
        )
        newest = await ed.command("deepthink.result")

    assert ed.edits == []
    assert [d.message for d in diagnostics] == ["NameError."]
    assert "+x = y" in llm_server.requests[0].messages_text
    assert newest["job"] == reply["job"] and "b.py now fails." in newest["markdown"]


async def test_the_newest_result_and_cancel_are_commands_any_client_can_send(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS_TEXT)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        before = await ed.command("deepthink.result")
        idle = await ed.command("deepthink.cancel")

        reply = await ed.run(uri, DIVIDE, "explain")
        await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")
        result = await ed.command("deepthink.result", {"uri": uri})

    assert before is None and idle == 0
    assert result["job"] == reply["job"]
    assert result["range"]["start"] == {"line": 3, "character": 0}
    assert result["markdown"].startswith("**Deep think: explain**")
    assert ed.text(uri) == COMMENTED
