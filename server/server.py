"""The language server: LSP messages in, orchestrator jobs out, results back as LSP.

Handlers here only translate; the work lives in the modules they call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path, uri_scheme
from pygls.workspace import TextDocument

from orchestrator.config import ConfigError
from server import __version__
from server.actions import (
    ACTION_KIND,
    CANCEL_COMMAND,
    CLEAR_DIAGNOSTICS_COMMAND,
    RESULT_COMMAND,
    RUN_COMMAND,
    VIEWS_COMMAND,
    code_actions,
    resolve_code_action,
    view_actions,
)
from server.backend import Backend
from server.editor import Results
from server.jobs import Jobs
from server.run import run_command
from server.settings import SECTION, load_settings

_log = logging.getLogger(__name__)

SETTINGS_TIMEOUT = 10.0  # seconds a job waits for settings the client is still sending


class DeepThinkProtocol(LanguageServerProtocol):
    """pygls' protocol with two repairs: the progress token of `deepthink.run`, and shutdown
    with jobs in flight."""

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(
        self, params: types.ExecuteCommandParams
    ) -> Generator[Any, Any, Any]:
        # pygls hands a command its arguments only: a progress token the client made for
        # `deepthink.run` travels into the argument, where the job reads it.
        match params:
            case types.ExecuteCommandParams(
                command=command, arguments=[dict() as argument], work_done_token=token
            ) if command == RUN_COMMAND and token is not None:
                argument.setdefault("workDoneToken", token)
        return (yield from super().lsp_workspace__execute_command(params))

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        # As pygls 2.1.1's, but iterating over a copy: cancelling a request's future runs
        # a callback that removes it from the dict (pygls issue 606).
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None


class DeepThinkServer(LanguageServer):
    protocol: DeepThinkProtocol

    def __init__(self) -> None:
        super().__init__("deepthink-lsp", __version__, protocol_cls=DeepThinkProtocol)
        self.jobs = Jobs()
        self.backend = Backend()
        self.results = Results()
        self.init_options: object = None
        self.workspace_settings: object = None
        self.settings_update: asyncio.Task[None] | None = None

    # --- what the client can do ----------------------------------------------------------

    @property
    def supports_progress(self) -> bool:
        window = self.client_capabilities.window
        return bool(window and window.work_done_progress)

    @property
    def supports_document_changes(self) -> bool:
        workspace = self.client_capabilities.workspace
        edit = workspace.workspace_edit if workspace else None
        return bool(edit and edit.document_changes)

    @property
    def resolves_code_action_command(self) -> bool:
        document = self.client_capabilities.text_document
        action = document.code_action if document else None
        if action is None or not action.data_support or action.resolve_support is None:
            return False
        return "command" in action.resolve_support.properties

    def open_document(self, uri: str) -> TextDocument | None:
        """The document as the editor has it open, or None when it is not open."""
        # pygls keys open documents by the unquoted URI; clients such as VS Code quote theirs
        # (`my%20project/caf%C3%A9.py`).
        document: TextDocument | None = self.workspace.text_documents.get(unquote(uri))
        return document

    def open_files(self) -> dict[str, str]:
        """The text of every file open in the editor, by its path, unsaved edits included."""
        documents = self.workspace.text_documents.items()
        return {
            path: document.source
            for uri, document in documents
            if uri_scheme(uri) == "file" and (path := to_fs_path(uri))
        }

    def workspace_folders(self) -> list[Path]:
        uris = [folder.uri for folder in self.workspace.folders.values()]
        if self.workspace.root_uri:
            uris.append(self.workspace.root_uri)
        return [Path(path) for uri in uris if (path := to_fs_path(uri))]

    # --- telling the user ----------------------------------------------------------------

    async def apply_edit(self, edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
        params = types.ApplyWorkspaceEditParams(edit=edit, label="Deep think")
        return await self.workspace_apply_edit_async(params)

    def columns(self, line: str) -> int:
        columns: int = self.workspace.position_codec.client_num_units(line)
        return columns

    def show(self, kind: types.MessageType, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def log(self, kind: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def publish_diagnostics(self, uris: Iterable[str]) -> None:
        for uri in sorted(uris):
            diagnostics = self.results.diagnostics.diagnostics(uri)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
            )

    # --- settings ------------------------------------------------------------------------

    def apply_settings(self) -> None:
        root = self.workspace.root_path
        try:
            settings = load_settings(
                Path(root) if root else None, self.init_options, self.workspace_settings
            )
        except ConfigError as error:
            self.backend.fail(str(error))
            self.show(types.MessageType.Error, f"deepthink settings: {error}")
            return
        self.backend.configure(settings)
        _log.debug("settings applied: %s", settings)
        # The first job would otherwise wait for the LLM client's import (about a second).
        self.backend.warm_up()

    def refresh_settings(self, pushed: object = None) -> None:
        """Take new settings in order: pull them if the client can, else use what it pushed."""
        previous = self.settings_update
        self.settings_update = asyncio.ensure_future(self._refresh_settings(previous, pushed))

    async def settings_ready(self) -> None:
        if self.settings_update is not None and not self.settings_update.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.settings_update), SETTINGS_TIMEOUT)
            except TimeoutError:
                _log.warning("the client did not send settings within %g s", SETTINGS_TIMEOUT)

    async def _refresh_settings(self, previous: asyncio.Task[None] | None, pushed: object) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        workspace = self.client_capabilities.workspace
        if workspace is not None and workspace.configuration:
            item = types.ConfigurationItem(section=SECTION, scope_uri=self.workspace.root_uri)
            try:
                (values,) = await self.workspace_configuration_async(
                    types.ConfigurationParams(items=[item])
                )
                self.workspace_settings = values
            except Exception:
                _log.exception("workspace/configuration failed; keeping the previous settings")
        elif isinstance(pushed, dict):
            self.workspace_settings = pushed.get(SECTION)
        self.apply_settings()

    # --- lifetime --------------------------------------------------------------------------

    def shutdown(self) -> None:
        # Called once the connection ends, after a shutdown request or without one.
        self.jobs.close()
        self.backend.close()
        super().shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated


# --- handlers --------------------------------------------------------------------------------


def initialize(ls: DeepThinkServer, params: types.InitializeParams) -> None:
    ls.init_options = params.initialization_options
    ls.apply_settings()


async def initialized(ls: DeepThinkServer, params: types.InitializedParams) -> None:
    # Pulled before the registration below is awaited: a command the client sends meanwhile
    # waits in settings_ready() for these settings instead of running on the defaults.
    ls.refresh_settings()
    workspace = ls.client_capabilities.workspace
    change = workspace.did_change_configuration if workspace else None
    if change is not None and change.dynamic_registration:
        # Clients such as VS Code only send configuration changes to servers that ask.
        registration = types.Registration(
            id=str(uuid.uuid4()),
            method=types.WORKSPACE_DID_CHANGE_CONFIGURATION,
            register_options=types.DidChangeConfigurationRegistrationOptions(section=SECTION),
        )
        try:
            await ls.client_register_capability_async(
                types.RegistrationParams(registrations=[registration])
            )
        except Exception:
            _log.exception("registering for configuration changes failed")


def did_change_configuration(
    ls: DeepThinkServer, params: types.DidChangeConfigurationParams
) -> None:
    ls.refresh_settings(pushed=params.settings)


def did_open(ls: DeepThinkServer, params: types.DidOpenTextDocumentParams) -> None:
    # Results kept from before the document was closed find their code again.
    document = params.text_document
    whole = types.TextDocumentContentChangeWholeDocument(document.text)
    follow_changes(ls, document.uri, [whole], document.text)


def did_change(ls: DeepThinkServer, params: types.DidChangeTextDocumentParams) -> None:
    # pygls has applied the changes already: the document holds the text they led to.
    uri = params.text_document.uri
    document = ls.open_document(uri)
    if document is not None:
        follow_changes(ls, uri, params.content_changes, document.source)


def follow_changes(
    ls: DeepThinkServer,
    uri: str,
    changes: Sequence[types.TextDocumentContentChangeEvent],
    text: str,
) -> None:
    ls.results.hovers.follow(uri, changes, text)
    if ls.results.diagnostics.follow(uri, changes, text):
        ls.publish_diagnostics([uri])


def hover(ls: DeepThinkServer, params: types.HoverParams) -> types.Hover | None:
    result = ls.results.hovers.find(params.text_document.uri, params.position.line)
    if result is None:
        return None
    return result.hover(ls.columns)


def code_action(ls: DeepThinkServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    if ls.open_document(params.text_document.uri) is None:
        return []  # a run needs the open document
    runs = code_actions(
        params.text_document.uri,
        params.range,
        params.context.only,
        resolve_command=ls.resolves_code_action_command,
        invoked=params.context.trigger_kind != types.CodeActionTriggerKind.Automatic,
    )
    context = params.context
    views = view_actions(context.diagnostics, context.only, ls.resolves_code_action_command)
    return views + runs


def code_action_resolve(ls: DeepThinkServer, action: types.CodeAction) -> types.CodeAction:
    try:
        return resolve_code_action(action)
    except ValueError as error:
        raise JsonRpcInvalidParams(f"{types.CODE_ACTION_RESOLVE}: {error}") from None


def work_done_progress_cancel(
    ls: DeepThinkServer, params: types.WorkDoneProgressCancelParams
) -> None:
    ls.jobs.cancel_progress(params.token, "cancelled by the user")


async def shutdown(ls: DeepThinkServer, params: None) -> None:
    await ls.jobs.shutdown()
    ls.backend.close()


def run(ls: DeepThinkServer, *arguments: Any) -> dict[str, str]:
    """`deepthink.run {uri, range, mode, ...}`: starts a job and answers at once."""
    if len(arguments) != 1:
        raise JsonRpcInvalidParams(
            f"{RUN_COMMAND}: expected one argument {{uri, range, mode, question?, output?, "
            f"scope?, workDoneToken?}}, got {len(arguments)}"
        )
    return run_command(ls, arguments[0])


def clear_diagnostics(ls: DeepThinkServer, *arguments: Any) -> None:
    """`deepthink.clearDiagnostics [{uri}]`: one reviewed file's findings, or all."""
    match arguments:
        case ():
            uri = None
        case ({"uri": str(uri)},):
            pass
        case _:
            # Clearing everything for an argument we do not understand would lose findings.
            shown = ", ".join(repr(argument) for argument in arguments)
            raise JsonRpcInvalidParams(
                f"{CLEAR_DIAGNOSTICS_COMMAND}: expected no argument or {{uri}}, got {shown}"
            )
    ls.publish_diagnostics(ls.results.diagnostics.clear(uri))


def cancel(ls: DeepThinkServer, *arguments: Any) -> int:
    """`deepthink.cancel [{job}]`: one job, or every one; returns how many were stopped."""
    match arguments:
        case () | (None,):
            return ls.jobs.cancel_all("cancelled by the user")
        case ({"job": str(job)},):
            return 1 if ls.jobs.cancel(job, "cancelled by the user") else 0
        case _:
            shown = ", ".join(repr(argument) for argument in arguments)
            raise JsonRpcInvalidParams(
                f"{CANCEL_COMMAND}: expected no argument or {{job}}, got {shown:.200}"
            )


def result(ls: DeepThinkServer, *arguments: Any) -> dict[str, object] | None:
    """`deepthink.result [{uri}]`: the newest whole result, of one document or of any."""
    match arguments:
        case () | (None,):
            found = ls.results.finished.newest()
        case ({"uri": str(uri)},):
            newest = ls.results.finished.newest
            found = newest(unquote(uri)) or newest(uri)
        case _:
            shown = ", ".join(repr(argument) for argument in arguments)
            raise JsonRpcInvalidParams(
                f"{RESULT_COMMAND}: expected no argument or {{uri}}, got {shown:.200}"
            )
    return None if found is None else found.to_json()


def show_views(ls: DeepThinkServer, *arguments: Any) -> None:
    """`deepthink.showViews text`: what each agent said of a finding, from its code action."""
    match arguments:
        case (str(views),):
            ls.show(types.MessageType.Info, views)
        case _:
            shown = ", ".join(repr(argument) for argument in arguments)
            raise JsonRpcInvalidParams(f"{VIEWS_COMMAND}: expected one string, got {shown:.200}")


def create_server() -> DeepThinkServer:
    ls = DeepThinkServer()
    ls.feature(types.INITIALIZE)(initialize)
    ls.feature(types.INITIALIZED)(initialized)
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    ls.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    ls.feature(types.TEXT_DOCUMENT_HOVER)(hover)
    ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[ACTION_KIND, types.CodeActionKind.QuickFix], resolve_provider=True
        ),
    )(code_action)
    ls.feature(types.CODE_ACTION_RESOLVE)(code_action_resolve)
    ls.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(work_done_progress_cancel)
    ls.feature(types.SHUTDOWN)(shutdown)
    ls.command(RUN_COMMAND)(run)
    ls.command(CLEAR_DIAGNOSTICS_COMMAND)(clear_diagnostics)
    ls.command(CANCEL_COMMAND)(cancel)
    ls.command(RESULT_COMMAND)(result)
    ls.command(VIEWS_COMMAND)(show_views)
    return ls
