"""One deep-think job, from `deepthink.run` to results in the editor.

The command snapshots the selection and answers at once, for every client: some wait
for the answer synchronously and give up after seconds (eglot), others time long
requests out (Helix). The job goes on in the background; the user follows it through
work-done progress where the client has it, through messages where not, and stops it
with the progress's cancel or `deepthink.cancel`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import from_fs_path, to_fs_path, uri_scheme

from orchestrator.context import split_lines
from orchestrator.engine import Orchestrator
from orchestrator.progress import Progress
from orchestrator.request import Mode
from orchestrator.result import Finding, RunResult, RunStatus
from orchestrator.workspace import Workspace
from server.actions import RUN_COMMAND, RunArguments, Scope, parse_run_arguments
from server.anchors import anchor_lines, line_break_of, relocate
from server.backend import CannotRun, Engine, NothingToDo
from server.channels import Channel, MessageChannel, WorkDoneChannel
from server.citations import link_citations
from server.comments import DEFAULT_MAX_LINES, comment_insertion, style_for
from server.gitdiff import changed_hunks, uncommitted_diff, workspace_diff
from server.jobs import Job
from server.reporting import (
    ProgressReporter,
    begin_message,
    begin_title,
    comment_heading,
    end_message,
    failure_message,
    hover_heading,
    partial_message,
)
from server.results import AnchoredDiagnostic, FinishedResult, finding_diagnostic
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

# Offered by `window/showMessageRequest` to clients that run `ask` without a question.
COMMON_QUESTIONS = (
    "What could go wrong with this code?",
    "What does this code assume about its inputs?",
    "How could this be simpler?",
    "How should this be tested?",
)


def run_command(ls: DeepThinkServer, argument: object) -> dict[str, str]:
    args, selection = _read_arguments(ls, argument)
    job = ls.jobs.start(args.uri)
    job.task = asyncio.ensure_future(_run_job(ls, job, args, selection))
    return {"job": job.id, "status": "running"}


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
    line_count = len(split_lines(document.source))
    if args.range is not None and args.mode is not Mode.REVIEW_DIFF:
        first, _ = selected_lines(args.range)
        if first >= line_count:
            # A range ending past the end runs to the end (as LSP says); one starting there
            # is about code the document does not have.
            raise JsonRpcInvalidParams(
                f"{RUN_COMMAND}: the range starts at line {first + 1}, but the document has "
                f"{line_count} lines"
            )
    path = Path(fs_path)
    root = workspace_root(path, ls.workspace_folders())
    # A review diff is about the file's changes, wherever the cursor is.
    chosen = None if args.mode is Mode.REVIEW_DIFF else args.range
    selection = take_selection(
        args.uri, path, root, document.source, document.language_id or "", chosen
    )
    return args, selection


async def _run_job(ls: DeepThinkServer, job: Job, args: RunArguments, selection: Selection) -> None:
    try:
        await ls.settings_ready()
        if args.mode is Mode.ASK and args.question is None:
            question = await _pick_question(ls, selection)
            if question is None or job.cancel.cancelled:
                ls.show(
                    types.MessageType.Info, "Deep think: no question was picked, so none was asked."
                )
                return
            args = dataclasses.replace(args, question=question)
        try:
            engine = ls.backend.acquire()
        except CannotRun as problem:
            ls.show(types.MessageType.Error, str(problem))
            return
        try:
            await _execute(ls, job, engine, args, selection)
        finally:
            ls.backend.release(engine)
    except Exception as error:
        _log.exception("job %s failed", job.id)
        ls.show(types.MessageType.Error, f"Deep think failed unexpectedly: {error!r} (see the log)")
    finally:
        ls.jobs.finish(job)


async def _pick_question(ls: DeepThinkServer, selection: Selection) -> str | None:
    """For clients that cannot prompt: common questions to pick from; None if none is."""
    anchor = selection.anchor
    params = types.ShowMessageRequestParams(
        type=types.MessageType.Info,
        message=(
            f"Deep think: which question about {selection.relative_path}:{anchor.start + 1}-"
            f"{anchor.end + 1}? (Your own question: pass it as the command's `question`.)"
        ),
        actions=[types.MessageActionItem(title=question) for question in COMMON_QUESTIONS],
    )
    try:
        picked = await ls.window_show_message_request_async(params)
    except JsonRpcException as error:
        _log.info("the client did not offer the questions: %s", error)
        return None
    return picked.title if picked is not None else None


@dataclass(frozen=True)
class _Outcome:
    result: RunResult
    diff: str | None = None  # what a review diff reviewed


async def _execute(
    ls: DeepThinkServer, job: Job, engine: Engine, args: RunArguments, selection: Selection
) -> None:
    if args.mode.is_review:
        ls.publish_diagnostics(ls.diagnostics.clear(_review_key(args, selection)))
    channel = await _open_channel(ls, job, args)
    channel.begin(begin_title(engine.config.orchestrator.parallel_agents), _begin(args, selection))
    progress = Progress()
    reporter = ProgressReporter(asyncio.get_running_loop(), channel.report)
    progress.subscribe(reporter.on_snapshot)
    work = functools.partial(_perform, engine, args, selection, job, progress)
    try:
        outcome = await ls.jobs.run_in_thread(work)
    except NothingToDo as nothing:
        channel.end(str(nothing), shown_apart=True)
        ls.show(types.MessageType.Info, str(nothing))
        return
    except CannotRun as problem:
        channel.end(str(problem), shown_apart=True)
        ls.show(types.MessageType.Error, str(problem))
        return
    except Exception:
        channel.end("failed: internal error", shown_apart=True)
        raise
    finally:
        reporter.close()
    result = outcome.result
    channel.end(end_message(result), shown_apart=result.status is RunStatus.FAILED)
    await _deliver(ls, job, args, selection, outcome)


async def _open_channel(ls: DeepThinkServer, job: Job, args: RunArguments) -> Channel:
    if args.work_done_token is not None:  # the client made a progress for this job
        job.progress_token = args.work_done_token
        return WorkDoneChannel(ls.work_done_progress, args.work_done_token, ls.log)
    if ls.supports_progress:
        try:
            await ls.work_done_progress.create_async(job.id)
        except Exception:
            _log.exception("the client refused a work-done progress; telling by messages")
        else:
            job.progress_token = job.id
            return WorkDoneChannel(ls.work_done_progress, job.id, ls.log)
    return MessageChannel(ls.show, ls.log)


def _begin(args: RunArguments, selection: Selection) -> str:
    if args.mode is Mode.REVIEW_DIFF:
        subject = "the workspace" if args.scope is Scope.WORKSPACE else selection.relative_path
        return f"review diff of {subject}"
    anchor = selection.anchor
    return begin_message(args.mode, selection.relative_path, anchor.start + 1, anchor.end + 1)


def _perform(
    engine: Engine, args: RunArguments, selection: Selection, job: Job, progress: Progress
) -> _Outcome:
    """The blocking part, on a job thread."""
    diff = None
    if args.mode is Mode.REVIEW_DIFF and args.scope is Scope.WORKSPACE:
        diff = workspace_diff(selection.root)
    elif args.mode is Mode.REVIEW_DIFF:
        diff = uncommitted_diff(selection.path, selection.text, selection.relative_path)
    request = build_request(
        selection, args.mode, args.question, engine.config.context.max_tokens, diff
    )
    try:
        workspace = Workspace(selection.root)
    except ValueError as error:
        raise CannotRun(str(error)) from None
    orchestrator = Orchestrator(engine.config, workspace, engine.llm, engine.cache)
    return _Outcome(orchestrator.run(request, job.cancel, progress), diff)


# --- results -------------------------------------------------------------------------------------


async def _deliver(
    ls: DeepThinkServer, job: Job, args: RunArguments, selection: Selection, outcome: _Outcome
) -> None:
    result = outcome.result
    if result.status is RunStatus.CANCELLED:
        return
    if result.status is RunStatus.FAILED:
        ls.show(types.MessageType.Error, failure_message(result))
        return
    if result.status is RunStatus.PARTIAL:
        ls.show(types.MessageType.Warning, partial_message(result))
    heading = hover_heading(args.mode, asked(args.mode, args.question), result)
    markdown = heading + link_citations(
        result.markdown, functools.partial(_file_uri, selection.root)
    )
    ls.finished.put(
        FinishedResult(job.id, args.uri, args.range, args.mode.value, result.status.value, markdown)
    )
    if args.mode.is_review:
        _publish_findings(ls, _review_key(args, selection), selection, result.findings)
    if args.mode is Mode.REVIEW_DIFF:
        _deliver_diff_review(ls, args, selection, outcome, markdown)
        return
    document = ls.open_document(args.uri)
    if document is None:
        # Editing a file the user closed would leave an unsaved change they cannot see.
        # The hover waits for the code: reopening the file finds it again.
        ls.log(types.MessageType.Info, markdown)
        if result.markdown.strip():
            ls.hovers.put(args.uri, selection.anchor, markdown)
        ls.show(
            types.MessageType.Info,
            f"{selection.relative_path} was closed while deep think ran: the result is in the "
            "output log, and shows on hover when you reopen the file.",
        )
        return
    anchor = relocate(selection.anchor, document.source)
    if anchor is None:
        ls.show(
            types.MessageType.Warning,
            f"The selected code in {selection.relative_path} was changed while deep think ran, "
            "so its result is not attached to it; the result is in the output log.",
        )
        ls.log(types.MessageType.Info, markdown)
        return
    if not result.markdown.strip():
        return
    ls.hovers.put(args.uri, anchor, markdown)
    settings = ls.backend.settings
    output = args.output or (settings.output if settings else Output.COMMENT)
    if output is Output.COMMENT:
        max_lines = settings.comment_max_lines if settings else DEFAULT_MAX_LINES
        await _insert_comment(ls, args, selection, result.markdown, max_lines)


def _deliver_diff_review(
    ls: DeepThinkServer,
    args: RunArguments,
    selection: Selection,
    outcome: _Outcome,
    markdown: str,
) -> None:
    """Findings are diagnostics already; the summary goes on hover over the changed lines of
    this document and into the log, never into the code."""
    snapshot = split_lines(selection.text)
    document = ls.open_document(args.uri)
    for hunk in changed_hunks(outcome.diff or ""):
        if hunk.path != selection.relative_path or hunk.start_line > len(snapshot):
            continue
        lines = anchor_lines(selection.text, hunk.start_line - 1, hunk.end_line - 1)
        anchor = relocate(lines, document.source) if document is not None else lines
        if anchor is not None:
            ls.hovers.put(args.uri, anchor, markdown)
    ls.log(types.MessageType.Info, markdown)
    findings = len(outcome.result.findings)
    where = "the workspace" if args.scope is Scope.WORKSPACE else selection.relative_path
    ls.show(
        types.MessageType.Info,
        f"Deep think reviewed the changes of {where}: {findings} finding"
        f"{'s' if findings != 1 else ''} in the problems list; the summary is in the output "
        "log and on hover over the changed lines.",
    )


def _review_key(args: RunArguments, selection: Selection) -> str:
    """Whose findings a review replaces: the document's, or the workspace's for its diff."""
    if args.mode is Mode.REVIEW_DIFF and args.scope is Scope.WORKSPACE:
        return from_fs_path(str(selection.root)) or str(selection.root)
    return args.uri


def _publish_findings(
    ls: DeepThinkServer, review: str, selection: Selection, findings: list[Finding]
) -> None:
    """Findings cite lines of the files as they were; in the reviewed document they are
    placed on that snapshot and then found again in its current text."""
    columns = ls.workspace.position_codec.client_num_units
    snapshot = split_lines(selection.text)
    found: dict[str, list[AnchoredDiagnostic]] = {}
    for finding in findings:
        target = _finding_uri(selection, finding.path)
        if target is None:
            _log.info("finding for a file that does not exist: %s", finding)
            continue
        lines = snapshot if target == selection.uri else _file_lines(ls, target)
        if lines is None:
            continue
        item = finding_diagnostic(finding, lines, columns)
        if item is not None and target == selection.uri:
            item = _current(ls, selection.uri, item)
        if item is not None:
            found.setdefault(target, []).append(item)
    ls.publish_diagnostics(ls.diagnostics.replace(review, found))


def _current(ls: DeepThinkServer, uri: str, item: AnchoredDiagnostic) -> AnchoredDiagnostic | None:
    document = ls.open_document(uri)
    if document is None:
        return item
    anchor = relocate(item.anchor, document.source)
    return None if anchor is None else item.moved(anchor)


def _file_lines(ls: DeepThinkServer, uri: str) -> list[str] | None:
    """The lines of a file a finding cites: the editor's if open, else read as an editor would."""
    document = ls.open_document(uri)
    if document is not None:
        return split_lines(document.source)
    try:
        return split_lines(Path(to_fs_path(uri) or "").read_text("utf-8", errors="replace"))
    except OSError:
        return None  # gone since it was cited


def _finding_uri(selection: Selection, cited: str) -> str | None:
    try:
        if (selection.root / cited).resolve() == selection.path.resolve():
            return selection.uri  # the reviewed document itself, under the URI the editor uses
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
    ls: DeepThinkServer,
    args: RunArguments,
    selection: Selection,
    markdown: str,
    max_lines: int,
) -> None:
    style = style_for(selection.language_id)
    if style is None:
        ls.show(
            types.MessageType.Info,
            f"Deep think knows no comment syntax for '{selection.language_id}', so it inserted "
            "nothing: hover over the selected code to read the result.",
        )
        return
    heading = comment_heading(args.mode, asked(args.mode, args.question))
    reason = "the selected code is no longer there"
    for _ in range(EDIT_ATTEMPTS):
        document = ls.open_document(args.uri)
        anchor = relocate(selection.anchor, document.source) if document is not None else None
        if document is None or anchor is None:
            break
        text, version = document.source, document.version
        lines = split_lines(text)
        insertion = comment_insertion(
            lines,
            anchor,
            style,
            heading,
            markdown,
            line_break_of(text),
            max_lines,
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
