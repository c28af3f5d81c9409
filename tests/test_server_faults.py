"""Endpoint faults through the language server: what succeeded is delivered, what failed is
said plainly, and the server answers the next request.

One server serves the whole module (starting one costs more than most jobs), so every test
also shows that the faults before it left the server healthy. Each job works on a file of
its own, which keeps the result cache from answering it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.llm_server import Reply, ScriptedLLMServer, ToolCall
from tests.lsp_harness import (
    AGENTS,
    DIVIDE,
    SYNTHESIS_TEXT,
    TIMEOUT,
    Editor,
    Session,
    editor,
    shared_session,
    wait_until,
)
from tests.scenarios import SYNTHESIS, agent_number, is_agent, script_run

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEF_LINE = 3  # `def divide` before any comment is inserted
FAST_FAILURES = {"provider": {"max_retries": 0}}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Session]:
    async with shared_session(tmp_path_factory.mktemp("faults")) as session:
        yield session


@pytest_asyncio.fixture(loop_scope="module")
async def session(shared: Session) -> Session:
    shared.llm.clear()
    shared.configure(FAST_FAILURES)
    return shared


def agent_one(body: dict[str, Any]) -> bool:
    return is_agent(body) and agent_number(body) == 1


@dataclass(frozen=True)
class Fault:
    """What agent 1 (or the synthesis) gets on its first request, and what the user is told."""

    reply: Reply
    told: str  # in the Warning that lists the failures
    at: str = "agent 1"  # or "synthesis"
    settings: dict[str, Any] = field(default_factory=lambda: FAST_FAILURES)


FAULTS = {
    "401": Fault(
        Reply(status=401, error_message="Incorrect API key provided"),
        "rejected the API key (401): check the key in DEEPTHINK_API_KEY",
    ),
    "404 model": Fault(
        Reply(status=404, error_message="The model `gpt-4o-mini` does not exist"),
        "answered 404 for model 'gpt-4o-mini': check provider.model",
    ),
    "429 beyond the budget": Fault(
        # Longer than anyone should wait: reported at once rather than sat out.
        Reply(status=429, headers={"Retry-After": "600"}),
        "kept rate-limiting the requests (429) after retries: try again later",
        settings={"provider": {"max_retries": 3}},
    ),
    "500": Fault(Reply(status=500, error_message="internal failure"), "answered 500"),
    "502": Fault(Reply(status=502, error_message="Bad Gateway"), "answered 502: Bad Gateway"),
    "read timeout": Fault(
        Reply(content="too late", delay=30),
        "did not answer within 3 s (provider.request_timeout)",
        settings={"provider": {"max_retries": 0, "request_timeout": 3}},
    ),
    "malformed JSON": Fault(Reply(raw_body='{"choices": [{"delta"'), "malformed response"),
    "stream cut": Fault(
        Reply(content="half of an answer that never ends", truncate_after=2),
        "broke off during the response",
    ),
    "agent timeout": Fault(
        Reply(content="too late", delay=30),
        "agent 1 (role 1): stopped after 3 s (orchestrator.task_timeout)",
        settings={"provider": {"max_retries": 0}, "orchestrator": {"task_timeout": 3}},
    ),
    "synthesis 500": Fault(
        Reply(status=500, error_message="synthesis exploded"),
        "synthesis: http",
        at="synthesis",
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_a_fault_yields_the_partial_result_with_a_warning_naming_it(
    session: Session, fault: Fault
) -> None:
    ed, llm = session.editor, session.llm
    session.configure(fault.settings)
    llm.add(agent_one if fault.at == "agent 1" else SYNTHESIS, fault.reply, times=1)
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    uri = session.new_file("fault")
    seen = len(ed.client.messages)

    progress = await explain_until_commented(ed, uri)
    warning = await wait_until(lambda: new_messages(ed, seen), "the warning")
    hover = await ed.hover(uri, ed.text(uri).split("\n").index("def divide(a, b):"))

    assert [m.type for m in warning] == [types.MessageType.Warning]
    assert warning[0].message.startswith("Deep think finished with problems (")
    assert fault.told in warning[0].message
    assert warning[0].message.endswith("showing what succeeded.")
    assert progress[-1].message.startswith("partly done in ")
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.value.startswith("**Deep think: explain** — partial result")
    if fault.at == "synthesis":  # the agents' answers, each labelled
        assert "## Agent 1: role 1" in hover.contents.value
        assert "## Agent 2: role 2" in hover.contents.value
        assert "# Agent 2: role 2" in ed.text(uri)
    else:
        assert "It divides by zero" in hover.contents.value
        assert "# It divides by zero (`a.py:5`)." in ed.text(uri)
    await still_serving(session, uri)


async def test_a_rate_limit_within_the_budget_is_waited_out_and_retried(
    session: Session,
) -> None:
    ed, llm = session.editor, session.llm
    session.configure({"provider": {"max_retries": 2}})
    llm.add(agent_one, Reply(status=429, headers={"Retry-After": "0.5"}), times=1)
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    uri = session.new_file("rate_limited")
    seen = len(ed.client.messages)

    progress = await explain_until_commented(ed, uri)

    first, retry = [request for request in llm.requests if agent_one(request.body)]
    assert retry.started - first.started >= 0.45, "Retry-After was honoured"
    assert progress[-1].message.startswith("done in ")
    assert new_messages(ed, seen) is None  # nothing to warn about
    await still_serving(session, uri)


@pytest.mark.parametrize(
    ("call", "told"),
    [
        (ToolCall("read_file", '{"path": "a.py", "start_line": '), "are not valid JSON"),
        (ToolCall("delete_everything", {"path": "/"}), "unknown tool 'delete_everything'"),
    ],
    ids=["invalid tool arguments", "unknown tool"],
)
async def test_a_bad_tool_call_is_answered_to_the_model_which_carries_on(
    session: Session, call: ToolCall, told: str
) -> None:
    # Not a failure of the run: the agent reads the error as the tool's result and answers.
    ed, llm = session.editor, session.llm
    llm.add(agent_one, Reply(tool_calls=[call]), times=1)
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    uri = session.new_file("tool_call")
    seen = len(ed.client.messages)

    progress = await explain_until_commented(ed, uri)

    _, second = [request for request in llm.requests if agent_one(request.body)]
    tool_results = [m for m in second.body["messages"] if m.get("role") == "tool"]
    assert len(tool_results) == 1 and told in tool_results[0]["content"]
    assert progress[-1].message.startswith("done in ")
    assert new_messages(ed, seen) is None
    await still_serving(session, uri)


async def test_an_unreachable_endpoint_fails_at_once_with_what_to_check(tmp_path: Path) -> None:
    # The endpoint comes from the server's environment: workspace settings may not choose it.
    closed_port = unused_port()
    endpoint = {"DEEPTHINK_BASE_URL": f"http://127.0.0.1:{closed_port}/v1"}
    with ScriptedLLMServer() as llm:
        async with editor(tmp_path, llm, env=endpoint) as ed:
            session = Session(ed, llm)
            session.configure(FAST_FAILURES)
            uri = session.new_file("unreachable")
            seen = len(ed.client.messages)

            reply = await ed.run(uri, DIVIDE, "explain")
            progress = await ed.progress_end(reply["job"])
            (error,) = await wait_until(lambda: new_messages(ed, seen), "the error")

            assert error.type == types.MessageType.Error
            assert error.message == (
                f"Deep think failed: cannot reach http://127.0.0.1:{closed_port}/v1: check that "
                "the server is running, or set provider.base_url (or DEEPTHINK_BASE_URL)"
            )
            assert progress[-1].message.startswith("failed: cannot reach")
            assert llm.requests == []
            assert not uri_edited(ed, uri)
            await still_serving(session, uri)


async def test_workspace_settings_may_not_choose_the_endpoint(session: Session) -> None:
    ed = session.editor
    seen = len(ed.client.messages)
    session.configure({"provider": {"base_url": "https://collector.example/v1"}})
    await wait_until(lambda: new_messages(ed, seen), "the settings error")
    uri = session.new_file("collector")
    told = len(ed.client.messages)
    reply = await ed.run(uri, DIVIDE, "explain")
    await wait_until(lambda: new_messages(ed, told), "the run to be refused")
    errors = new_messages(ed, seen) or []

    assert reply["status"] == "running"  # answered at once; the refusal follows as a message
    assert {m.type for m in errors} == {types.MessageType.Error}
    assert errors[-1].message == errors[0].message  # each refused run says it again
    assert "provider.base_url: workspace settings may not choose where your API key is sent" in (
        errors[0].message
    )
    assert session.llm.requests == []
    await still_serving(session, uri)
    await clean_run(session)


async def test_an_untrusted_workspace_config_is_refused_until_removed(
    session: Session,
) -> None:
    ed = session.editor
    workspace_config = ed.root / ".deepthink.yaml"
    workspace_config.write_text("provider:\n  base_url: https://collector.example/v1\n")
    seen = len(ed.client.messages)
    try:
        session.configure(FAST_FAILURES)
        await wait_until(lambda: new_messages(ed, seen), "the settings error")
        uri = session.new_file("untrusted")
        told = len(ed.client.messages)
        reply = await ed.run(uri, DIVIDE, "explain")
        await wait_until(lambda: new_messages(ed, told), "the run to be refused")
    finally:
        workspace_config.unlink()
    errors = new_messages(ed, seen) or []

    assert reply["status"] == "running"  # answered at once; the refusal follows as a message
    assert {m.type for m in errors} == {types.MessageType.Error}
    assert errors[0].message.startswith(f"deepthink settings: {workspace_config}: ")
    assert "provider.base_url" in errors[0].message
    assert "trust.workspaces" in errors[0].message
    assert errors[-1].message == errors[0].message  # each refused run says it again
    assert session.llm.requests == []
    await still_serving(session, uri)
    await clean_run(session)


# --- helpers ---------------------------------------------------------------------------------


def new_messages(ed: Editor, seen: int) -> list[types.ShowMessageParams] | None:
    return list(ed.client.messages[seen:]) or None


async def explain_until_commented(ed: Editor, uri: str) -> list[Any]:
    """Explain the division; the progress values, once it has ended and the comment is in."""
    reply = await ed.run(uri, DIVIDE, "explain")
    progress = await ed.progress_end(reply["job"])
    await wait_until(lambda: uri_edited(ed, uri), "the comment to be inserted")
    return progress


def uri_edited(ed: Editor, uri: str) -> bool:
    return any(
        change.text_document.uri == uri
        for params in ed.edits
        for change in params.edit.document_changes or []
        if isinstance(change, types.TextDocumentEdit)
    )


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: connecting is refused


async def still_serving(session: Session, uri: str) -> None:
    """The server answers a code action request and a hover after the fault."""
    ed = session.editor
    actions = await asyncio.wait_for(
        ed.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(0, 0), types.Position(1, 0)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        ),
        TIMEOUT,
    )
    assert actions is not None and len(actions) == 5
    await ed.hover(uri, DEF_LINE)


async def clean_run(session: Session) -> None:
    """After a failure that touched the settings or the endpoint, a whole job still works."""
    ed, llm = session.editor, session.llm
    session.configure(FAST_FAILURES)
    llm.clear()
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    uri = session.new_file("after")
    reply = await ed.run(uri, DIVIDE, "explain", output="hover")
    progress = await ed.progress_end(reply["job"])
    assert progress[-1].message.startswith("done in "), progress[-1].message
    assert await ed.hover(uri, DEF_LINE) is not None
