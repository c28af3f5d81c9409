"""Drive the real deepthink-lsp over stdio as an editor would, against the scripted LLM server.

The harness plays the editor's part faithfully: it keeps its own copy of every open
document, applies `workspace/applyEdit` to it (refusing a stale version, as VS Code
does) and reports its own edits back with `textDocument/didChange`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from lsprotocol import types
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument
from pytest_lsp import ClientServerConfig, LanguageClient, make_test_lsp_client

from tests.llm_server import ScriptedLLMServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AGENTS = 2  # few agents keep the scripted runs short
TIMEOUT = 15.0  # generous: a slow CI machine must not fail a correct server

T = TypeVar("T")
EditStyle = Literal["insert", "neovim", "whole"]
Edit = types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit

# A file, the synthesis scripted for it, and the file once `explain` on `divide` has run.
SOURCE = """\
import math


def divide(a, b):
    return a / b


def area(r):
    return math.pi * r * r
"""
SYNTHESIS_TEXT = "## Summary\nIt divides by zero (`a.py:5`)."
COMMENTED = """\
import math


# Deep think — explanation:
# Summary:
# It divides by zero (`a.py:5`).
def divide(a, b):
    return a / b


def area(r):
    return math.pi * r * r
"""

_LEAKY_VARIABLES = (
    "DEEPTHINK_API_KEY",
    "DEEPTHINK_BASE_URL",
    "DEEPTHINK_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)


class Endpoint(Protocol):
    """Where the server's LLM is: the scripted server, in this process or another."""

    @property
    def base_url(self) -> str: ...


def server_env(llm: Endpoint, home: Path) -> dict[str, str]:
    """The server's whole environment: this one's, minus user settings, plus the scripted LLM."""
    env = {name: value for name, value in os.environ.items() if name not in _LEAKY_VARIABLES}
    env.update(
        DEEPTHINK_BASE_URL=llm.base_url,
        DEEPTHINK_API_KEY="test-key",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHONPATH=str(PROJECT_ROOT),
    )
    return env


def capabilities(*, progress: bool = True) -> types.ClientCapabilities:
    """What a modern editor announces; `progress=False` is an editor without progress UI."""
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True,
            configuration=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
        ),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(),
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=["", "deepthink"])
                ),
                data_support=True,
                resolve_support=types.ClientCodeActionResolveOptions(properties=["command"]),
            ),
        ),
        window=types.WindowClientCapabilities(work_done_progress=progress),
    )


def lines_range(first: int, last: int, text: str) -> types.Range:
    """Whole lines first..last (0-based), as an editor selects them."""
    lines = text.split("\n")
    return types.Range(types.Position(first, 0), types.Position(last, len(lines[last])))


async def wait_until(check: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
    """Poll `check` until it returns something truthy; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Editor:
    client: LanguageClient
    llm: ScriptedLLMServer
    root: Path
    process: asyncio.subprocess.Process
    documents: dict[str, TextDocument] = field(default_factory=dict)
    edits: list[types.ApplyWorkspaceEditParams] = field(default_factory=list)
    closed: bool = False
    # How the editor reports an edit it applied: as the edit itself, as Neovim does (lines
    # inserted above line L replace line L by themselves plus L), or as the whole document.
    edit_style: EditStyle = "insert"
    # The answer to the server's window/showMessageRequest: the title of an action, or None.
    pick: Callable[[types.ShowMessageRequestParams], str | None] = lambda params: None
    asked: list[types.ShowMessageRequestParams] = field(default_factory=list)

    # --- documents -----------------------------------------------------------------------

    def open(self, name: str, text: str, language_id: str = "python") -> str:
        """Write the file into the workspace and open it in the editor; returns its URI."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        uri = from_fs_path(str(path))
        assert uri is not None
        self.documents[uri] = TextDocument(uri, text, 1, language_id)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
            )
        )
        return str(uri)

    def text(self, uri: str) -> str:
        source: str = self.documents[uri].source
        return source

    def type(self, uri: str, at: types.Range, text: str) -> None:
        """The user edits the document."""
        self._change(uri, [types.TextDocumentContentChangePartial(range=at, text=text)])

    def _change(self, uri: str, changes: list[types.TextDocumentContentChangePartial]) -> None:
        # (a whole-document change passes through here too, as full-sync clients send it)
        document = self.documents[uri]
        for change in changes:
            document.apply_change(change)
        document.version = (document.version or 0) + 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=document.version
                ),
                content_changes=changes,
            )
        )

    def apply_edit(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        """The editor's side of workspace/applyEdit."""
        self.edits.append(params)
        for change in params.edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit), change
            document = self.documents[change.text_document.uri]
            if change.text_document.version not in (None, document.version):
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason="the document has changed"
                )
            ordered = sorted(
                change.edits,
                key=lambda edit: (edit.range.start.line, edit.range.start.character),
                reverse=True,  # later edits first: earlier positions stay valid
            )
            self._report(document, ordered)
        return types.ApplyWorkspaceEditResult(applied=True)

    def _report(self, document: TextDocument, edits: list[Edit]) -> None:
        changes = [types.TextDocumentContentChangePartial(e.range, _new_text(e)) for e in edits]
        if self.edit_style == "insert":
            self._change(document.uri, changes)
            return
        if self.edit_style == "whole":
            edited = TextDocument(document.uri, document.source)
            for change in changes:
                edited.apply_change(change)
            whole = types.TextDocumentContentChangeWholeDocument(edited.source)
            self._change(document.uri, [whole])  # type: ignore[list-item]
            return
        lines = document.source.split("\n")
        neovim = []
        for change in changes:
            start = change.range.start
            assert change.range.start == change.range.end and start.character == 0, change
            line = lines[start.line]
            whole_line = types.Range(start, types.Position(start.line, len(line)))
            neovim.append(types.TextDocumentContentChangePartial(whole_line, change.text + line))
        self._change(document.uri, neovim)

    # --- requests ------------------------------------------------------------------------

    def run_arguments(self, uri: str, selection: types.Range, mode: str, **extra: Any) -> Any:
        return {
            "uri": uri,
            "range": {
                "start": {"line": selection.start.line, "character": selection.start.character},
                "end": {"line": selection.end.line, "character": selection.end.character},
            },
            "mode": mode,
            **extra,
        }

    async def run(self, uri: str, selection: types.Range, mode: str, **extra: Any) -> Any:
        """Execute `deepthink.run` as a code action would; returns the command's reply."""
        arguments = self.run_arguments(uri, selection, mode, **extra)
        return await self.command("deepthink.run", arguments)

    async def command(self, name: str, *arguments: Any) -> Any:
        return await asyncio.wait_for(
            self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=name, arguments=list(arguments) or None)
            ),
            TIMEOUT,
        )

    async def hover(self, uri: str, line: int) -> types.Hover | None:
        return await asyncio.wait_for(
            self.client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line, 0),
                )
            ),
            TIMEOUT,
        )

    async def progress_end(self, token: str) -> list[Any]:
        """Every value of the job's progress, once it has ended."""

        def ended() -> list[Any] | None:
            values = self.client.progress_reports.get(token, [])
            return values if values and isinstance(values[-1], types.WorkDoneProgressEnd) else None

        return await wait_until(ended, f"the progress {token} to end")

    async def shut_down(self) -> int:
        """shutdown, then exit, as an editor closing; returns the server's exit code."""
        await asyncio.wait_for(self.client.shutdown_session(), TIMEOUT)
        self.closed = True
        return await asyncio.wait_for(self.process.wait(), TIMEOUT)

    async def message(self, contains: str) -> types.ShowMessageParams:
        def found() -> types.ShowMessageParams | None:
            return next((m for m in self.client.messages if contains in m.message), None)

        return await wait_until(found, f"a window/showMessage containing {contains!r}")


@asynccontextmanager
async def editor(
    tmp_path: Path,
    llm: ScriptedLLMServer,
    *,
    progress: bool = True,
    tcp: bool = False,
    env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
    client_capabilities: types.ClientCapabilities | None = None,
    before_initialize: Callable[[LanguageClient], None] | None = None,
) -> AsyncIterator[Editor]:
    """A started, initialized server with an editor attached; shut down cleanly afterwards.

    The server talks over stdio, or with `tcp` over a TCP port (`deepthink-lsp --tcp`).
    `env` adds to (or overrides) the server's environment; with `log_file` the server logs
    at DEBUG level into that file, as a user capturing its stderr would.
    `client_capabilities` replace the modern editor's; `before_initialize` sets the client up
    (handlers, settings) before the session starts.
    """
    root = tmp_path / "project"
    root.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    environment = {**server_env(llm, home), **(env or {})}
    command = [sys.executable, "-m", "server"]
    if log_file is not None:
        command = ["sh", "-c", 'exec "$@" --log-level DEBUG 2>"$0"', str(log_file), *command]
    if tcp:
        port = _free_port()
        process = await asyncio.create_subprocess_exec(
            *command, "--tcp", "127.0.0.1", str(port), env=environment
        )
        client = make_test_lsp_client()
        await _connect(client, port)
    else:
        config = ClientServerConfig(server_command=command, server_env=environment)
        started = await config.start()
        assert isinstance(started, LanguageClient) and started._server is not None
        client, process = started, started._server  # pygls keeps the process private
    session = Editor(client, llm, root, process)

    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        return session.apply_edit(params)  # pygls tags handlers: it needs a plain function

    def show_message_request(
        params: types.ShowMessageRequestParams,
    ) -> types.MessageActionItem | None:
        session.asked.append(params)
        title = session.pick(params)
        return None if title is None else types.MessageActionItem(title=title)

    client.feature(types.WORKSPACE_APPLY_EDIT)(apply_edit)
    client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(show_message_request)
    client.set_configuration({"deepthink": {}})
    if before_initialize is not None:
        before_initialize(client)
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities or capabilities(progress=progress),
                root_uri=from_fs_path(str(root)),
                initialization_options={"orchestrator": {"parallel_agents": AGENTS}},
            )
        )
        yield session
    finally:
        if not session.closed:
            try:
                await session.shut_down()
            except Exception:
                process.kill()  # a wedged server must not hang the test run
                raise
        await client.stop()  # type: ignore[no-untyped-call]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _connect(client: LanguageClient, port: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            await client.start_tcp("127.0.0.1", port)
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def _new_text(edit: Edit) -> str:
    assert not isinstance(edit, types.SnippetTextEdit), "the server sends no snippets"
    return edit.new_text


DIVIDE = lines_range(3, 4, SOURCE)  # `def divide` and its body


@dataclass
class Session:
    """One server shared by a module's tests: each is also a check that the last left it well."""

    editor: Editor
    llm: ScriptedLLMServer
    files: int = 0

    def new_file(self, name: str) -> str:
        """A fresh file for this job: its own path keeps the result cache out of the way."""
        self.files += 1
        return self.editor.open(f"{self.files:02d}_{name}.py", SOURCE)

    def configure(self, settings: dict[str, Any]) -> None:
        """The user changes the `deepthink` settings; the next run waits for them."""
        self.editor.client.set_configuration({"deepthink": settings})
        self.editor.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )


@asynccontextmanager
async def shared_session(root: Path) -> AsyncIterator[Session]:
    with ScriptedLLMServer() as llm:
        async with editor(root, llm) as ed:
            yield Session(ed, llm)
