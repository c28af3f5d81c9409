"""Bad or unusual LSP input: a clear error or a sensible result, never a crash, and the server
answers the next request.

One server serves the module (see test_server_faults.py for why); each test uses files of
its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from orchestrator.context import fit_budget
from tests.gitrepo import git
from tests.llm_server import Reply, ScriptedLLMServer, ToolCall
from tests.lsp_harness import (
    AGENTS,
    DIVIDE,
    SOURCE,
    SYNTHESIS_TEXT,
    TIMEOUT,
    Editor,
    Session,
    lines_range,
    shared_session,
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

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Session]:
    async with shared_session(tmp_path_factory.mktemp("input")) as session:
        yield session


@pytest_asyncio.fixture(loop_scope="module")
async def session(shared: Session) -> Session:
    shared.llm.clear()
    return shared


def arguments(uri: str, **change: Any) -> dict[str, Any]:
    """`deepthink.run`'s argument for `divide` in `uri`, with some keys changed or dropped."""
    value: dict[str, Any] = {
        "uri": uri,
        "range": {"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 16}},
        "mode": "explain",
    }
    value.update(change)
    return {key: item for key, item in value.items() if item is not None}


def at_lines(first: int, last: int) -> dict[str, Any]:
    return {"start": {"line": first, "character": 0}, "end": {"line": last, "character": 0}}


# Each case: the command, its arguments for a document `uri`, and what the error must say.
BAD_COMMANDS: dict[str, tuple[str, Callable[[str], list[Any]], str]] = {
    "no argument": ("deepthink.run", lambda uri: [], "expected one argument {uri, range, mode"),
    "two arguments": (
        "deepthink.run",
        lambda uri: [arguments(uri), arguments(uri)],
        "expected one argument {uri, range, mode, question?, output?, scope?, workDoneToken?}, "
        "got 2",
    ),
    "not an object": ("deepthink.run", lambda uri: ["explain"], "expected an object"),
    "unknown mode": (
        "deepthink.run",
        lambda uri: [arguments(uri, mode="summarise")],
        "mode: expected one of 'explain', 'review', 'ask', 'review-diff', got 'summarise'",
    ),
    "missing mode": ("deepthink.run", lambda uri: [arguments(uri, mode=None)], "mode: expected"),
    "missing range": ("deepthink.run", lambda uri: [arguments(uri, range=None)], "range: expected"),
    "negative line": (
        "deepthink.run",
        lambda uri: [arguments(uri, range=at_lines(-1, 2))],
        "range: expected {start: {line, character}",
    ),
    "range as text": (
        "deepthink.run",
        lambda uri: [arguments(uri, range="3-4")],
        "range: expected {start: {line, character}",
    ),
    "question not text": (
        "deepthink.run",
        lambda uri: [arguments(uri, mode="ask", question=["why"])],
        "question: expected a string",
    ),
    "unknown output": (
        "deepthink.run",
        lambda uri: [arguments(uri, output="popup")],
        "output: expected 'comment' or 'hover', got 'popup'",
    ),
    "unknown key": (
        "deepthink.run",
        lambda uri: [arguments(uri, selection="x")],
        "unknown argument keys: selection",
    ),
    "empty range": (
        "deepthink.run",
        lambda uri: [arguments(uri, range=at_lines(4, 4))],
        "range: empty; select the code to think about",
    ),
    "range past the end": (
        "deepthink.run",
        lambda uri: [arguments(uri, range=at_lines(40, 50))],
        "the range starts at line 41, but the document has 10 lines",
    ),
    "document not open": (
        "deepthink.run",
        lambda uri: [arguments(uri.replace("input_", "never_opened_"))],
        "never_opened_",
    ),
    "clear with a number": (
        "deepthink.clearDiagnostics",
        lambda uri: [42],
        "deepthink.clearDiagnostics: expected no argument or {uri}, got 42",
    ),
    "clear with a bad uri": (
        "deepthink.clearDiagnostics",
        lambda uri: [{"uri": 5}],
        "expected no argument or {uri}, got {'uri': 5}",
    ),
    "unknown command": ("deepthink.explode", lambda uri: [], "'deepthink.explode' is not defined"),
}


@pytest.mark.parametrize("case", BAD_COMMANDS.values(), ids=BAD_COMMANDS.keys())
async def test_bad_command_arguments_are_refused_with_what_is_wrong(
    session: Session, case: tuple[str, Callable[[str], list[Any]], str]
) -> None:
    ed = session.editor
    command, make_arguments, complaint = case
    uri = ed.open("input_a.py", SOURCE)

    with pytest.raises(JsonRpcException) as refused:
        await ed.command(command, *make_arguments(uri))

    assert isinstance(refused.value, JsonRpcInvalidParams), refused.value
    assert complaint in str(refused.value)
    assert session.llm.requests == []  # no job started
    await answers(ed, uri)


async def test_a_bad_code_action_to_resolve_is_refused(session: Session) -> None:
    ed = session.editor
    uri = ed.open("input_resolve.py", SOURCE)
    with pytest.raises(JsonRpcInvalidParams, match="unknown argument keys: bogus"):
        await ed.client.code_action_resolve_async(
            types.CodeAction(title="Deep think: explain", data={"bogus": 1})
        )
    await answers(ed, uri)


async def test_requests_about_unknown_documents_and_positions_find_nothing(
    session: Session,
) -> None:
    ed = session.editor
    uri = ed.open("input_positions.py", SOURCE)
    unknown = uri.replace("input_positions", "not_open")

    assert await ed.hover(unknown, 3) is None
    assert await ed.hover(uri, 10_000) is None
    assert await code_actions(ed, unknown, DIVIDE) == []
    await answers(ed, uri)


async def test_a_range_ending_past_the_document_runs_to_its_end(session: Session) -> None:
    ed, llm = session.editor, session.llm
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    uri = ed.open("input_past_end.py", SOURCE)
    past_end = {"start": {"line": 7, "character": 0}, "end": {"line": 500, "character": 3}}

    reply = await ed.command("deepthink.run", arguments(uri, range=past_end))
    progress = await ed.progress_end(reply["job"])
    await wait_until(lambda: edited(ed, uri), "the comment to be inserted")

    assert progress[0].message == "explain input_past_end.py:8-10"
    assert ed.text(uri).split("\n")[7:10] == [
        "# Deep think — explanation:",
        "# Summary:",
        "# It divides by zero (`a.py:5`).",
    ]
    assert ed.text(uri).endswith("def area(r):\n    return math.pi * r * r\n")


async def test_a_path_with_spaces_and_accents_is_the_same_document(session: Session) -> None:
    # VS Code percent-encodes URIs: `my%20project/caf%C3%A9.py`.
    ed, llm = session.editor, session.llm
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    uri = ed.open("my project/café.py", SOURCE)
    assert "%20" in uri

    reply = await ed.run(uri, DIVIDE, "explain")
    await ed.progress_end(reply["job"])
    await wait_until(lambda: edited(ed, uri), "the comment to be inserted")
    hover = await ed.hover(uri, ed.text(uri).split("\n").index("def divide(a, b):"))

    assert "# It divides by zero (`a.py:5`)." in ed.text(uri)
    assert hover is not None


async def test_a_document_closed_while_its_job_runs_keeps_the_result(session: Session) -> None:
    """Closing the file does not throw the result away: it goes to the output log at once,
    its findings are published, and the hover is there again when the file is reopened.
    No comment is inserted: editing a file the user closed would leave a hidden unsaved change.
    """
    ed, llm = session.editor, session.llm
    gate = threading.Event()
    finding = {"path": "input_closed.py", "start_line": 5, "severity": "error", "message": "b=0"}
    block_agents(llm, gate, "Risky division." + findings_block([finding]))
    uri = ed.open("input_closed.py", SOURCE)
    seen = len(ed.client.messages)

    reply = await ed.run(uri, DIVIDE, "review")
    await asyncio.to_thread(llm.wait_for_requests, 1 + AGENTS, TIMEOUT)
    ed.client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
    )
    await ed.hover(uri, 0)  # answered after the close: the server knows of it by now
    gate.set()
    progress = await ed.progress_end(reply["job"])
    (notice,) = await wait_until(lambda: ed.client.messages[seen:], "the notice")
    diagnostics = await wait_until(lambda: ed.client.diagnostics.get(uri), "the findings")
    reopened = ed.open("input_closed.py", SOURCE)
    hover = await ed.hover(reopened, 4)

    assert progress[-1].message.startswith("done in ")
    assert notice.type == types.MessageType.Info
    assert notice.message == (
        "input_closed.py was closed while deep think ran: the result is in the output log, "
        "and shows on hover when you reopen the file."
    )
    assert any("Risky division." in log.message for log in ed.client.log_messages)
    assert [(d.range.start.line, d.message) for d in diagnostics] == [(4, "b=0")]
    assert not edited(ed, uri)
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert "Risky division." in hover.contents.value


async def test_nul_characters_and_lone_surrogates_in_the_buffer(session: Session) -> None:
    # The client's JSON may carry any code point; a lone surrogate cannot be sent on as UTF-8.
    ed, llm = session.editor, session.llm
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    text = "x = '\x00\x00'\ny = '\ud800 broken pair'\nz = 1\n"
    uri = ed.open("input_binary.py", "placeholder\n")  # the file on disk stays valid UTF-8
    ed.type(uri, types.Range(types.Position(0, 0), types.Position(1, 0)), text)

    reply = await ed.run(uri, lines_range(0, 1, text), "explain", output="hover")
    progress = await ed.progress_end(reply["job"])
    hover = await ed.hover(uri, 1)

    assert progress[-1].message.startswith("done in "), progress[-1].message
    decomposition = llm.requests[0].messages_text
    assert "x = '\\u0000\\u0000'" in decomposition
    assert "y = '\ufffd broken pair'" in decomposition
    assert hover is not None


async def test_files_with_nul_bytes_or_invalid_utf8_on_disk(session: Session) -> None:
    """review-diff against such a file in git, and agents reading and citing such files."""
    ed, llm = session.editor, session.llm
    root = ed.root
    committed = b"name = 'caf\xe9'\ndata = '\x00\x01'\nlimit = 1\n"
    (root / "legacy.py").write_bytes(committed)
    (root / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "latin1.py").write_bytes(b"greeting = 'caf\xe9'\n")
    git(root, "init", "-q")
    git(root, "add", "legacy.py", "blob.bin")
    git(root, "commit", "-q", "-m", "legacy")
    # What an editor shows for the file: invalid bytes as U+FFFD.
    buffer = committed.decode("utf-8", errors="replace").replace("limit = 1", "limit = 2")

    def first_agent(body: dict[str, Any]) -> bool:
        return is_agent(body) and agent_number(body) == 1

    reads = [
        ToolCall("read_file", {"path": "blob.bin"}),
        ToolCall("read_file", {"path": "legacy.py"}),
        ToolCall("read_file", {"path": "latin1.py"}),
        ToolCall("search", {"pattern": "caf"}),
    ]
    llm.add(first_agent, Reply(tool_calls=reads), times=1)
    finding = {"path": "latin1.py", "start_line": 1, "severity": "info", "message": "latin-1"}
    script_run(llm, AGENTS, synthesis="Only the limit changed." + findings_block([finding]))
    uri = ed.open("legacy.py", buffer)
    (root / "legacy.py").write_bytes(committed)  # the editor has not saved its change

    reply = await ed.run(uri, lines_range(2, 2, buffer), "review-diff", output="hover")
    progress = await ed.progress_end(reply["job"])
    latin1 = uri.replace("legacy.py", "latin1.py")
    diagnostics = await wait_until(lambda: ed.client.diagnostics.get(latin1), "the finding")

    assert progress[-1].message.startswith("done in "), progress[-1].message
    decomposition = llm.requests[0].messages_text
    assert "-limit = 1\\n+limit = 2" in decomposition
    assert "-name" not in decomposition and "+name" not in decomposition  # decoded alike
    tool_results = [
        m["content"] for r in llm.requests for m in r.body["messages"] if m.get("role") == "tool"
    ]
    assert "blob.bin is a binary file" in tool_results[0]
    assert "legacy.py is a binary file" in tool_results[1]
    assert "greeting = 'caf\ufffd'" in tool_results[2]
    assert tool_results[3].startswith("latin1.py:1:")
    assert [(d.range.end.character, d.message) for d in diagnostics] == [(17, "latin-1")]
    await answers(ed, uri)


async def test_a_50k_line_file_keeps_code_actions_instant_and_requests_bounded(
    session: Session,
) -> None:
    ed, llm = session.editor, session.llm
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    line = "value_{0} = compute({0}, 'padding that makes the line longer')\n"
    text = "".join(line.format(n) for n in range(50_000))
    uri = ed.open("input_huge.py", text)
    middle = lines_range(25_000, 25_002, text)
    everything = types.Range(types.Position(0, 0), types.Position(50_000, 0))

    started = time.monotonic()
    actions = await code_actions(ed, uri, middle)
    listing = time.monotonic() - started
    middle_job = await ed.run(uri, middle, "explain", output="hover")
    await ed.progress_end(middle_job["job"])
    whole_job = await ed.run(uri, everything, "explain", output="hover")
    await ed.progress_end(whole_job["job"])
    hover = await ed.hover(uri, 25_001)

    assert len(actions) == 5
    assert listing < 2.0, f"listing code actions took {listing:.2f} s"  # generous: not a benchmark
    budget_chars = 6000 * 4  # context.max_tokens, four characters a token
    largest = max(len(request.messages_text) for request in llm.requests)
    assert largest < 3 * budget_chars + 10_000, "selection and context stay within the budget"
    assert len(text) > 50 * largest
    assert hover is not None


async def test_a_huge_question_heads_the_hover_and_comment_as_the_agents_got_it(
    session: Session,
) -> None:
    ed, llm = session.editor, session.llm
    script_run(llm, AGENTS, synthesis=SYNTHESIS_TEXT)
    question = "\n".join(f"Part {n} of a long question?" for n in range(40_000))
    uri = ed.open("input_question.py", SOURCE)

    job = await ed.run(uri, DIVIDE, "ask", question=question, output="comment")
    await ed.progress_end(job["job"])
    await wait_until(lambda: "# Deep think" in ed.text(uri), "the comment")
    hover = await ed.hover(uri, ed.text(uri).split("\n").index("def divide(a, b):"))

    as_asked = fit_budget(question, 6000)  # context.max_tokens
    assert len(as_asked) < len(question) / 40
    sent = [str(m.get("content")) for r in llm.requests for m in r.body["messages"]]
    assert sum(as_asked in content for content in sent) >= AGENTS + 2  # plan, agents, synthesis
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert f"*{as_asked}*" in hover.contents.value
    assert len(hover.contents.value) < len(as_asked) + 2_000
    comment = [line for line in ed.text(uri).split("\n") if line.startswith("# ")]
    assert comment[0].startswith("# Deep think — question: Part 0 of a long question? Part 1")
    assert comment[2].endswith(" …") and comment[3:5] == [
        "# Summary:",
        "# It divides by zero (`a.py:5`).",
    ]
    assert len(comment) < 10


# --- helpers ---------------------------------------------------------------------------------


async def answers(ed: Editor, uri: str) -> None:
    """The server still answers requests."""
    assert len(await code_actions(ed, uri, DIVIDE)) == 5


async def code_actions(ed: Editor, uri: str, at: types.Range) -> list[Any]:
    result = await asyncio.wait_for(
        ed.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=at,
                context=types.CodeActionContext(diagnostics=[]),
            )
        ),
        TIMEOUT,
    )
    return list(result or [])


def edited(ed: Editor, uri: str) -> bool:
    return any(
        change.text_document.uri == uri
        for params in ed.edits
        for change in params.edit.document_changes or []
        if isinstance(change, types.TextDocumentEdit)
    )


def block_agents(llm: ScriptedLLMServer, gate: threading.Event, synthesis: str) -> None:
    llm.add(DECOMPOSE, Reply(content=plan(AGENTS)))

    def after_gate(body: dict[str, Any]) -> Reply:
        gate.wait(TIMEOUT)
        return Reply(content="The divisor may be zero.")

    llm.add(is_agent, after_gate)
    llm.add(SYNTHESIS, Reply(content=synthesis))
