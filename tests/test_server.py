"""deepthink-lsp end to end: the real server over stdio, the scripted LLM server over HTTP."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.gitrepo import git
from tests.llm_server import Reply, ScriptedLLMServer
from tests.lsp_harness import (
    AGENTS,
    COMMENTED,
    DIVIDE,
    SOURCE,
    SYNTHESIS_TEXT,
    TIMEOUT,
    Editor,
    capabilities,
    editor,
    wait_until,
)
from tests.scenarios import (
    DECOMPOSE,
    SYNTHESIS,
    agent_number,
    findings_block,
    is_agent,
    plan,
    script_run,
)


def script_blocked_agents(
    llm_server: ScriptedLLMServer, gate: threading.Event | None = None
) -> None:
    """Agents that wait: for `gate` if given, else in a long reply delay a cancel can abort."""
    llm_server.add(DECOMPOSE, Reply(content=plan(AGENTS)))
    if gate is None:
        llm_server.add(is_agent, Reply(content="too late", delay=60))
    else:

        def after_gate(body: dict[str, Any]) -> Reply:
            gate.wait(TIMEOUT)
            return Reply(content="The divisor may be zero.")

        llm_server.add(is_agent, after_gate)
    llm_server.add(SYNTHESIS, Reply(content=SYNTHESIS_TEXT))


async def agents_waiting(llm_server: ScriptedLLMServer) -> None:
    """Until the decomposition and every agent's first request have reached the LLM."""
    await asyncio.to_thread(llm_server.wait_for_requests, 1 + AGENTS, TIMEOUT)


async def code_actions(ed: Editor, uri: str, at: types.Range, **context: Any) -> list[Any]:
    result = await ed.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=at,
            context=types.CodeActionContext(**{"diagnostics": [], **context}),
        )
    )
    return list(result or [])


async def test_code_actions_are_listed_for_a_selection_and_resolved(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)

        actions = await code_actions(ed, uri, DIVIDE)
        resolved = [await ed.client.code_action_resolve_async(action) for action in actions]
        cursor = types.Range(types.Position(4, 2), types.Position(4, 2))
        at_cursor = await code_actions(ed, uri, cursor)
        automatic = types.CodeActionTriggerKind.Automatic
        light_bulb = await code_actions(ed, uri, cursor, trigger_kind=automatic)
        only_quickfixes = await code_actions(ed, uri, DIVIDE, only=["quickfix"])

    assert [action.title for action in actions] == [
        "Deep think: explain",
        "Deep think: review",
        "Deep think: ask…",
        "Deep think: review diff (this file)",
        "Deep think: review diff (workspace)",
    ]
    # Listing is instant: the command is only built on resolve.
    assert all(isinstance(a, types.CodeAction) and a.command is None for a in actions)
    assert all(a.kind == "deepthink" for a in actions)
    commands = [action.command for action in resolved]
    assert all(c is not None and c.command == "deepthink.run" for c in commands)
    assert [list(c.arguments or []) for c in commands if c is not None] == [
        *([ed.run_arguments(uri, DIVIDE, mode)] for mode in ("explain", "review", "ask")),
        *([{"uri": uri, "mode": "review-diff", "scope": scope}] for scope in ("file", "workspace")),
    ]
    assert [action.title for action in at_cursor] == [
        "Deep think: review diff (this file)",
        "Deep think: review diff (workspace)",
    ]
    assert light_bulb == []  # not offered on every line unasked
    assert only_quickfixes == []


async def test_explain_reports_progress_inserts_the_comment_and_answers_hovers(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS_TEXT)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)

        reply = await ed.run(uri, DIVIDE, "explain")
        progress = await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")
        hover = await ed.hover(uri, COMMENTED.split("\n").index("def divide(a, b):"))
        no_hover = await ed.hover(uri, 0)

    assert reply["status"] == "running"  # the command returns at once; the job goes on
    begin, *reports, end = progress
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.title == f"Deep think: {AGENTS} agents"
    assert begin.cancellable
    assert begin.message == "explain a.py:4-5"
    assert reports and all(isinstance(report, types.WorkDoneProgressReport) for report in reports)
    percentages = [report.percentage for report in reports]
    assert percentages == sorted(percentages)
    messages = [report.message or "" for report in reports]
    assert all(len(message) <= 60 for message in messages)
    # e.g. '1/2 agents · 35 tok · 0 s' (reports coalesce, so which counts show varies)
    assert any(re.match(rf"\d/{AGENTS} agents · ", message) for message in messages), messages
    assert any("role 1: done" in log.message for log in ed.client.log_messages)  # the details
    assert isinstance(end, types.WorkDoneProgressEnd)
    assert end.message is not None and end.message.startswith("done in ")
    assert f"{AGENTS} of {AGENTS} agents answered" in end.message

    assert ed.text(uri) == COMMENTED
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert "It divides by zero" in hover.contents.value
    assert f"[`a.py:5`]({uri}#L5)" in hover.contents.value  # the citation links to the line
    assert no_hover is None


async def test_review_publishes_findings_that_follow_the_inserted_comment(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    finding = {
        "path": "a.py",
        "start_line": 5,
        "end_line": 5,
        "severity": "error",
        "message": "Division by zero when b is 0.",
        "quote": "return a / b",
    }
    script_run(
        llm_server,
        AGENTS,
        answer="It divides by b." + findings_block([finding]),
        synthesis="Risky division (`a.py:5`)." + findings_block([finding]),
    )
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)

        reply = await ed.run(uri, DIVIDE, "review")
        await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")
        return_line = ed.text(uri).split("\n").index("    return a / b")

        def published_on_return_line() -> list[types.Diagnostic] | None:
            found = list(ed.client.diagnostics.get(uri, []))
            return found if [d.range.start.line for d in found] == [return_line] else None

        (diagnostic,) = await wait_until(published_on_return_line, "diagnostics on `return`")
        actions = await code_actions(ed, uri, diagnostic.range, diagnostics=[diagnostic])
        views = next(a for a in actions if a.title == "Deep think: each agent's view")
        command = (await ed.client.code_action_resolve_async(views)).command
        assert command is not None and command.arguments is not None
        await ed.command(command.command, *command.arguments)
        shown = await ed.message("each agent's view")
        await ed.command("deepthink.clearDiagnostics")
        await wait_until(lambda: not ed.client.diagnostics[uri], "the diagnostics to be cleared")

    assert ed.text(uri).startswith("import math\n\n\n# Deep think — review:\n# Risky division")
    assert diagnostic.source == "deepthink"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.message == f"Division by zero when b is 0. ({AGENTS}/{AGENTS} agents)"
    assert diagnostic.range.start.character == 4  # from the code, not the indentation
    assert shown.message.splitlines()[1:] == [
        f"agent {n} (role {n}): Division by zero when b is 0." for n in range(1, AGENTS + 1)
    ]


async def test_cancel_through_the_progress_stops_the_job_and_its_llm_requests(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_blocked_agents(llm_server)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)

        reply = await ed.run(uri, DIVIDE, "explain")
        await agents_waiting(llm_server)
        ed.client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=reply["job"])
        )
        progress = await ed.progress_end(reply["job"])
        requests = await asyncio.to_thread(llm_server.wait_settled, TIMEOUT)

    assert progress[-1].message == "cancelled"
    assert len(requests) == 1 + AGENTS  # no synthesis, no retry: nothing after the cancel
    assert all(request.aborted for request in requests[1:])
    assert ed.edits == []
    assert ed.text(uri) == SOURCE


async def test_a_client_without_progress_gets_the_reply_at_once_messages_and_a_cancel(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_blocked_agents(llm_server)
    async with editor(tmp_path, llm_server, progress=False) as ed:
        uri = ed.open("a.py", SOURCE)

        reply = await ed.run(uri, DIVIDE, "explain")  # would time out if the job held it
        started = await ed.message("started; the command deepthink.cancel stops it")
        await agents_waiting(llm_server)
        stopped = await ed.command("deepthink.cancel", {"job": reply["job"]})
        ended = await ed.message("Deep think cancelled")
        requests = await asyncio.to_thread(llm_server.wait_settled, TIMEOUT)
        again = await ed.command("deepthink.cancel", {"job": reply["job"]})

    assert reply["status"] == "running"
    assert started.message.startswith(f"Deep think: {AGENTS} agents: explain a.py:4-5 started")
    assert stopped == 1 and again == 0
    assert ended.type == types.MessageType.Info
    assert len(requests) == 1 + AGENTS
    assert all(request.aborted for request in requests[1:])
    assert ed.edits == []
    assert any("decomposing" in log.message for log in ed.client.log_messages)


@pytest.mark.filterwarnings("ignore:Unknown progress token")  # the test client made none
async def test_a_progress_token_the_client_made_is_the_one_reported_and_cancelled(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_blocked_agents(llm_server)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        arguments = ed.run_arguments(uri, DIVIDE, "explain")
        await asyncio.wait_for(
            ed.client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="deepthink.run", arguments=[arguments], work_done_token="mine-1"
                )
            ),
            TIMEOUT,
        )
        await agents_waiting(llm_server)
        ed.client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token="mine-1")
        )
        progress = await ed.progress_end("mine-1")

    assert isinstance(progress[0], types.WorkDoneProgressBegin)
    assert progress[-1].message == "cancelled"
    assert list(ed.client.progress_reports) == ["mine-1"]  # no progress of the server's own


async def test_requests_are_answered_while_a_job_waits_for_the_llm(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_blocked_agents(llm_server)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        await ed.run(uri, DIVIDE, "explain")
        await agents_waiting(llm_server)

        hover = await ed.hover(uri, 3)  # times out if the event loop were blocked
        actions = await asyncio.wait_for(code_actions(ed, uri, DIVIDE), TIMEOUT)

    assert hover is None  # no result yet
    assert len(actions) == 5


async def test_shutdown_with_a_job_in_flight_cancels_it_and_exits_cleanly(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_blocked_agents(llm_server)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        reply = await ed.run(uri, DIVIDE, "explain")
        await agents_waiting(llm_server)

        exit_code = await ed.shut_down()
        requests = await asyncio.to_thread(llm_server.wait_settled, TIMEOUT)

    assert exit_code == 0
    assert all(request.aborted for request in requests[1:])
    end = ed.client.progress_reports[reply["job"]][-1]
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message == "cancelled"


async def test_the_server_also_speaks_tcp(tmp_path: Path, llm_server: ScriptedLLMServer) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS_TEXT)
    async with editor(tmp_path, llm_server, tcp=True) as ed:
        uri = ed.open("a.py", SOURCE)
        reply = await ed.run(uri, DIVIDE, "explain")
        progress = await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")
        exit_code = await ed.shut_down()

    assert [type(value) for value in (progress[0], progress[-1])] == [
        types.WorkDoneProgressBegin,
        types.WorkDoneProgressEnd,
    ]
    assert ed.text(uri) == COMMENTED
    assert exit_code == 0


async def test_edits_while_the_agents_think_do_not_misplace_the_comment(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    gate = threading.Event()
    script_blocked_agents(llm_server, gate)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        reply = await ed.run(uri, DIVIDE, "explain")
        await agents_waiting(llm_server)

        above = types.Position(1, 0)
        ed.type(uri, types.Range(above, above), "# added while waiting\nimport os\n")
        gate.set()
        await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")

    lines = COMMENTED.split("\n")
    assert ed.text(uri) == "\n".join([lines[0], "# added while waiting", "import os", *lines[1:]])


async def test_a_selection_edited_away_gets_no_comment_and_the_file_stays_intact(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    gate = threading.Event()
    script_blocked_agents(llm_server, gate)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        reply = await ed.run(uri, DIVIDE, "explain")
        await agents_waiting(llm_server)

        body = types.Range(types.Position(4, 11), types.Position(4, 16))
        ed.type(uri, body, "a / b if b else 0.0")
        edited = ed.text(uri)
        gate.set()
        await ed.progress_end(reply["job"])
        warning = await ed.message("was changed while deep think ran")

    assert warning.type == types.MessageType.Warning
    assert ed.edits == []
    assert ed.text(uri) == edited
    assert any("It divides by zero" in log.message for log in ed.client.log_messages)


async def test_an_endpoint_failure_is_reported_and_the_server_keeps_serving(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    llm_server.add(None, Reply(status=401, error_message="Incorrect API key provided"), times=1)
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS_TEXT)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)

        failed = await ed.run(uri, DIVIDE, "explain")
        failed_progress = await ed.progress_end(failed["job"])
        message = await ed.message("rejected the API key")
        retried = await ed.run(uri, DIVIDE, "explain", output="hover")
        retried_progress = await ed.progress_end(retried["job"])
        hover = await ed.hover(uri, 3)

    assert message.type == types.MessageType.Error
    assert "401" in message.message and "DEEPTHINK_API_KEY" in message.message
    assert failed_progress[-1].message.startswith("failed: ")
    assert retried_progress[-1].message.startswith("done")
    assert hover is not None
    assert ed.edits == []  # output "hover" from the command argument


async def test_a_partial_result_warns_and_still_delivers(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    def second_agent(body: dict[str, Any]) -> bool:
        return is_agent(body) and agent_number(body) == 2

    llm_server.add(second_agent, Reply(status=400, error_message="context length exceeded"))
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS_TEXT)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)

        reply = await ed.run(uri, DIVIDE, "explain")
        progress = await ed.progress_end(reply["job"])
        warning = await ed.message("finished with problems")
        await wait_until(lambda: ed.edits, "the comment to be inserted")

    assert warning.type == types.MessageType.Warning
    assert "agent 2" in warning.message and "context length exceeded" in warning.message
    assert progress[-1].message.startswith("partly done in ")
    assert f"1 of {AGENTS} agents answered" in progress[-1].message
    assert ed.text(uri) == COMMENTED


async def test_configuration_changes_apply_without_restart(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, 3, synthesis=SYNTHESIS_TEXT)
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)

        ed.client.set_configuration({"deepthink": {"orchestrator": {"parallel_agent": 3}}})
        ed.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(None))
        error = await ed.message("parallel_agent")
        ed.client.set_configuration(
            {"deepthink": {"orchestrator": {"parallel_agents": 3}, "output": "hover"}}
        )
        ed.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(None))
        reply = await ed.run(uri, DIVIDE, "explain")
        progress = await ed.progress_end(reply["job"])
        hover = await ed.hover(uri, 3)

    assert error.type == types.MessageType.Error
    assert "did you mean 'parallel_agents'" in error.message
    assert progress[0].title == "Deep think: 3 agents"
    assert progress[-1].message.startswith("done")
    assert hover is not None
    assert ed.edits == []  # output "hover" from the settings


async def test_a_run_sent_while_the_editor_registers_for_settings_waits_for_them(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    """VS Code may answer the server's registration for configuration changes only after it
    sent its first command: that command still runs with the editor's settings."""
    script_run(llm_server, 3, synthesis=SYNTHESIS_TEXT)
    registered = asyncio.Event()

    def answer_registration_late(client: LanguageClient) -> None:
        async def register(params: types.RegistrationParams) -> None:
            await registered.wait()

        client.feature(types.CLIENT_REGISTER_CAPABILITY)(register)
        client.set_configuration({"deepthink": {"orchestrator": {"parallel_agents": 3}}})

    client_capabilities = capabilities()
    assert client_capabilities.workspace is not None
    client_capabilities.workspace.did_change_configuration = (
        types.DidChangeConfigurationClientCapabilities(dynamic_registration=True)
    )
    async with editor(
        tmp_path,
        llm_server,
        client_capabilities=client_capabilities,
        before_initialize=answer_registration_late,
    ) as ed:
        uri = ed.open("a.py", SOURCE)
        reply = await ed.run(uri, DIVIDE, "explain")
        registered.set()
        progress = await ed.progress_end(reply["job"])

    assert progress[0].title == "Deep think: 3 agents"
    assert progress[-1].message.startswith("done")


async def test_review_diff_reviews_the_uncommitted_changes_of_the_buffer(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis="The new guard hides the error.")
    async with editor(tmp_path, llm_server) as ed:
        uri = ed.open("a.py", SOURCE)
        git(ed.root, "init", "-q")
        git(ed.root, "add", "a.py")
        git(ed.root, "commit", "-q", "-m", "initial")

        unchanged = await ed.run(uri, DIVIDE, "review-diff", output="hover")
        unchanged_progress = await ed.progress_end(unchanged["job"])
        notice = await ed.message("no uncommitted changes")
        ed.type(uri, types.Range(types.Position(4, 16), types.Position(4, 16)), " if b else 0.0")
        changed = await ed.run(uri, DIVIDE, "review-diff", output="hover")
        changed_progress = await ed.progress_end(changed["job"])

    assert notice.type == types.MessageType.Info
    assert unchanged_progress[-1].message == notice.message
    assert changed_progress[-1].message.startswith("done")
    decomposition = llm_server.requests[0].messages_text
    assert "-    return a / b\\n+    return a / b if b else 0.0" in decomposition
