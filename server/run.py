"""One deep-think job, from `deepthink.run` to results in the editor.

The command snapshots the selection, starts work-done progress and returns at once (some
clients time out long requests); the job goes on in the background. A client without
work-done progress gets the request held open instead, so that `$/cancelRequest` is its
way to cancel.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import from_fs_path, to_fs_path, uri_scheme

from orchestrator.context import split_lines
from orchestrator.engine import Orchestrator
from orchestrator.progress import Progress, Snapshot
from orchestrator.request import Mode
from orchestrator.result import Finding, RunResult, RunStatus
from orchestrator.workspace import Workspace
from server.actions import RUN_COMMAND, RunArguments, parse_run_arguments
from server.anchors import Anchor, line_break_of, relocate
from server.backend import CannotRun, Engine, NothingToDo
from server.citations import link_citations
from server.comments import comment_insertion, style_for
from server.gitdiff import uncommitted_diff
from server.jobs import Job, RequestId
from server.reporting import (
    ProgressReporter,
    begin_message,
    begin_title,
    comment_heading,
    end_message,
    failure_message,
    hover_heading,
    partial_message,
    report_message,
)
from server.results import AnchoredDiagnostic, finding_diagnostic
from server.selection import (
    Selection,
    asked,
    build_request,
    selected_lines,
    take_selection,
    workspace_root,
)
from server.settings import Output

if TYPE_CHECKING:
    from server.server import DeepThinkServer

_log = logging.getLogger(__name__)

EDIT_ATTEMPTS = 3  # the document may change again between placing the comment and applying it


async def run_command(
    ls: DeepThinkServer, argument: object, request_id: RequestId | None
) -> dict[str, str]:
    args, selection = _read_arguments(ls, argument)
    await ls.settings_ready()
    job = ls.jobs.start(args.uri)
    ls.jobs.link_request(request_id, job)
    try:
        return await _start(ls, job, args, selection)
    finally:
        ls.jobs.unlink_request(request_id)


def _read_arguments(ls: DeepThinkServer, argument: object) -> tuple[RunArguments, Selection]:
    """The arguments and the selection as it is now, before anything else can change it."""
    try:
        args = parse_run_arguments(argument)
    except ValueError as error:
        raise JsonRpcInvalidParams(f"{RUN_COMMAND}: {error}") from None
    document = ls.open_document(args.uri)
    if document is None:
        raise JsonRpcInvalidParams(f"{RUN_COMMAND}: {args.uri} is not open in the editor")
    fs_path = to_fs_path(args.uri) if uri_scheme(args.uri) == "file" else None
    if fs_path is None:
        raise JsonRpcInvalidParams(f"{RUN_COMMAND}: {args.uri} is not a file: save it first")
    first, _ = selected_lines(args.range)
    line_count = len(split_lines(document.source))
    if first >= line_count:
        # A range ending past the end runs to the end (as LSP says); one starting there is
        # about code the document does not have.
        raise JsonRpcInvalidParams(
            f"{RUN_COMMAND}: the range starts at line {first + 1}, but the document has "
            f"{line_count} lines"
        )
    path = Path(fs_path)
    root = workspace_root(path, ls.workspace_folders())
    selection = take_selection(
        args.uri, path, root, document.source, document.language_id or "", args.range
    )
    return args, selection


async def _start(
    ls: DeepThinkServer, job: Job, args: RunArguments, selection: Selection
) -> dict[str, str]:
    try:
        engine = ls.backend.acquire()
    except CannotRun as problem:
        ls.jobs.finish(job)
        ls.show(types.MessageType.Error, str(problem))
        return {"job": job.id, "status": RunStatus.FAILED.value}
    if args.mode.is_review:
        ls.publish_diagnostics(ls.diagnostics.clear(args.uri))
    try:
        token = await _begin_progress(ls, job, engine, args, selection)
    except BaseException:
        ls.backend.release(engine)
        ls.jobs.finish(job)
        raise
    job.task = asyncio.ensure_future(_execute(ls, job, engine, args, selection, token))
    if token is not None:
        return {"job": job.id, "status": "running"}
    return {"job": job.id, "status": str(await job.task)}


async def _begin_progress(
    ls: DeepThinkServer, job: Job, engine: Engine, args: RunArguments, selection: Selection
) -> str | None:
    if not ls.supports_progress:
        return None
    try:
        await ls.work_done_progress.create_async(job.id)
    except Exception:
        _log.exception("the client refused a work-done progress; running without one")
        return None
    anchor = selection.anchor
    ls.work_done_progress.begin(
        job.id,
        types.WorkDoneProgressBegin(
            title=begin_title(engine.config.orchestrator.parallel_agents),
            message=begin_message(
                args.mode, selection.relative_path, anchor.start + 1, anchor.end + 1
            ),
            percentage=0,
            cancellable=True,
        ),
    )
    return job.id


async def _execute(
    ls: DeepThinkServer,
    job: Job,
    engine: Engine,
    args: RunArguments,
    selection: Selection,
    token: str | None,
) -> str:
    """Run the job and deliver its result; returns the final status for the no-progress reply."""
    progress = Progress()
    reporter = None
    if token is not None:
        reporter = ProgressReporter(
            asyncio.get_running_loop(), functools.partial(_report, ls, token)
        )
        progress.subscribe(reporter.on_snapshot)
    work = functools.partial(_perform, engine, args, selection, job, progress)
    try:
        result = await ls.jobs.run_in_thread(work)
    except NothingToDo as nothing:
        _end_progress(ls, token, str(nothing))
        ls.show(types.MessageType.Info, str(nothing))
        return "nothing to do"
    except CannotRun as problem:
        _end_progress(ls, token, str(problem))
        ls.show(types.MessageType.Error, str(problem))
        return RunStatus.FAILED.value
    except Exception as error:
        _log.exception("job %s failed", job.id)
        _end_progress(ls, token, "failed: internal error")
        ls.show(types.MessageType.Error, f"Deep think failed unexpectedly: {error!r} (see the log)")
        return RunStatus.FAILED.value
    finally:
        if reporter is not None:
            reporter.close()
        ls.backend.release(engine)
        ls.jobs.finish(job)
    _end_progress(ls, token, end_message(result))
    await _deliver(ls, args, selection, result)
    return result.status.value


def _perform(
    engine: Engine, args: RunArguments, selection: Selection, job: Job, progress: Progress
) -> RunResult:
    """The blocking part, on a job thread."""
    diff = None
    if args.mode is Mode.REVIEW_DIFF:
        diff = uncommitted_diff(selection.path, selection.text, selection.relative_path)
    request = build_request(
        selection, args.mode, args.question, engine.config.context.max_tokens, diff
    )
    try:
        workspace = Workspace(selection.root)
    except ValueError as error:
        raise CannotRun(str(error)) from None
    orchestrator = Orchestrator(engine.config, workspace, engine.llm, engine.cache)
    return orchestrator.run(request, job.cancel, progress)


def _report(ls: DeepThinkServer, token: str, snapshot: Snapshot) -> None:
    ls.work_done_progress.report(
        token,
        types.WorkDoneProgressReport(
            message=report_message(snapshot), percentage=snapshot.percentage, cancellable=True
        ),
    )


def _end_progress(ls: DeepThinkServer, token: str | None, message: str) -> None:
    if token is None:
        return
    ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
    ls.work_done_progress.tokens.pop(token, None)


# --- results -------------------------------------------------------------------------------------


async def _deliver(
    ls: DeepThinkServer, args: RunArguments, selection: Selection, result: RunResult
) -> None:
    if result.status is RunStatus.CANCELLED:
        return
    if result.status is RunStatus.FAILED:
        ls.show(types.MessageType.Error, failure_message(result))
        return
    if result.status is RunStatus.PARTIAL:
        ls.show(types.MessageType.Warning, partial_message(result))
    heading = hover_heading(args.mode, asked(args.mode, args.question), result)
    document = ls.open_document(args.uri)
    if document is None:
        _deliver_to_closed(ls, args, selection, result, heading)
        return
    anchor = relocate(selection.anchor, document.source)
    if anchor is None:
        ls.show(
            types.MessageType.Warning,
            f"The selected code in {selection.relative_path} was changed while deep think ran, "
            "so its result is not attached to it; the result is in the output log.",
        )
        ls.log(types.MessageType.Info, heading + result.markdown)
        return
    if args.mode.is_review:
        lines = split_lines(document.source)
        _publish_findings(ls, args.uri, selection, anchor, lines, result.findings)
    if not result.markdown.strip():
        return
    markdown = link_citations(result.markdown, functools.partial(_file_uri, selection.root))
    ls.hovers.put(args.uri, anchor, heading + markdown)
    settings = ls.backend.settings
    output = args.output or (settings.output if settings else Output.COMMENT)
    if output is Output.COMMENT:
        await _insert_comment(ls, args, selection, result.markdown)


def _deliver_to_closed(
    ls: DeepThinkServer, args: RunArguments, selection: Selection, result: RunResult, heading: str
) -> None:
    """The document was closed while the job ran: nothing is lost, and nothing is inserted.

    Editing a file the user closed would leave an unsaved change they cannot see. The result
    goes to the output log now, findings are published (editors list them for closed files
    too), and the hover waits for the code: reopening the file finds it again.
    """
    if args.mode.is_review:
        lines = split_lines(selection.text)
        _publish_findings(ls, args.uri, selection, selection.anchor, lines, result.findings)
    ls.log(types.MessageType.Info, heading + result.markdown)
    if result.markdown.strip():
        markdown = link_citations(result.markdown, functools.partial(_file_uri, selection.root))
        ls.hovers.put(args.uri, selection.anchor, heading + markdown)
    ls.show(
        types.MessageType.Info,
        f"{selection.relative_path} was closed while deep think ran: the result is in the "
        "output log, and shows on hover when you reopen the file.",
    )


def _current_anchor(ls: DeepThinkServer, uri: str, selection: Selection) -> Anchor | None:
    document = ls.open_document(uri)
    return relocate(selection.anchor, document.source) if document is not None else None


def _publish_findings(
    ls: DeepThinkServer,
    uri: str,
    selection: Selection,
    anchor: Anchor,
    lines: list[str],
    findings: list[Finding],
) -> None:
    """Findings in the reviewed file (whose `lines` are given) move with its code since the
    job started."""
    columns = ls.workspace.position_codec.client_num_units
    moved_by = anchor.start - selection.anchor.start
    found: dict[str, list[AnchoredDiagnostic]] = {}
    for finding in findings:
        target = _finding_uri(uri, selection, finding.path)
        if target is None:
            _log.info("finding for a file that does not exist: %s", finding)
            continue
        if target == uri:
            finding = Finding(
                finding.path,
                finding.start_line + moved_by,
                finding.end_line + moved_by,
                finding.severity,
                finding.message,
            )
        target_lines = lines if target == uri else _file_lines(ls, target)
        if target_lines is None:
            continue
        if (item := finding_diagnostic(finding, target_lines, columns)) is not None:
            found.setdefault(target, []).append(item)
    ls.publish_diagnostics(ls.diagnostics.replace(uri, found))


def _file_lines(ls: DeepThinkServer, uri: str) -> list[str] | None:
    """The lines of a file a finding cites: the editor's if open, else read as an editor would."""
    document = ls.open_document(uri)
    if document is not None:
        return split_lines(document.source)
    try:
        return split_lines(Path(to_fs_path(uri) or "").read_text("utf-8", errors="replace"))
    except OSError:
        return None  # gone since it was cited


def _finding_uri(uri: str, selection: Selection, cited: str) -> str | None:
    try:
        if (selection.root / cited).resolve() == selection.path.resolve():
            return uri  # the reviewed document itself, under the URI the editor uses
    except (OSError, ValueError):
        return None
    return _file_uri(selection.root, cited)


def _file_uri(root: Path, cited: str) -> str | None:
    """The URI of a workspace file a result cites (relative to the root), if it exists.

    The path comes from the model: one outside the workspace, or no usable path at all
    (a NUL byte, a name too long), cites nothing.
    """
    path = root / cited  # an absolute `cited` replaces the root
    try:
        inside = path.resolve().is_relative_to(root.resolve()) and path.is_file()
    except (OSError, ValueError):
        return None
    return from_fs_path(str(path)) if inside else None


async def _insert_comment(
    ls: DeepThinkServer, args: RunArguments, selection: Selection, markdown: str
) -> None:
    style = style_for(selection.language_id)
    if style is None:
        ls.show(
            types.MessageType.Info,
            f"Deep think knows no comment syntax for '{selection.language_id}', so it inserted "
            "nothing: hover over the selected code to read the result.",
        )
        return
    reason = "the selected code is no longer there"
    for _ in range(EDIT_ATTEMPTS):
        document = ls.open_document(args.uri)
        anchor = _current_anchor(ls, args.uri, selection)
        if document is None or anchor is None:
            break
        text, version = document.source, document.version
        lines = split_lines(text)
        insertion = comment_insertion(
            lines,
            anchor,
            style,
            comment_heading(args.mode, asked(args.mode, args.question)),
            markdown,
            line_break_of(text),
        )
        at = _line_start(ls, lines, insertion.line)
        edit = _insertion_edit(ls, args.uri, version, at, insertion.text)
        try:
            response = await ls.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label="Deep think")
            )
        except JsonRpcException as error:
            reason = str(error)
            break
        if response.applied:
            return
        reason = response.failure_reason or "the editor refused the edit"
        if document.version == version:
            break  # refused for another reason than a newer document: do not insist
    ls.show(
        types.MessageType.Warning,
        f"Deep think could not insert its comment ({reason}): "
        "hover over the selected code to read the result.",
    )


def _line_start(ls: DeepThinkServer, lines: list[str], line: int) -> types.Position:
    """Where `line` starts; one past the last line is the end of the document."""
    if line < len(lines):
        return types.Position(line, 0)
    return types.Position(len(lines) - 1, ls.workspace.position_codec.client_num_units(lines[-1]))


def _insertion_edit(
    ls: DeepThinkServer, uri: str, version: int | None, at: types.Position, text: str
) -> types.WorkspaceEdit:
    edit = types.TextEdit(range=types.Range(at, at), new_text=text)
    if not ls.supports_document_changes:
        return types.WorkspaceEdit(changes={uri: [edit]})
    # With the version, an editor whose document moved on refuses instead of misplacing it.
    document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(document, [edit])])
