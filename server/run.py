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
from pathlib import Path
from typing import Protocol

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.progress import Progress as WorkDoneProgress
from pygls.uris import to_fs_path, uri_scheme

from orchestrator.context import split_lines
from orchestrator.diffpolicy import shown_diff
from orchestrator.engine import Orchestrator
from orchestrator.progress import Progress
from orchestrator.request import Mode
from orchestrator.result import RunStatus
from orchestrator.workspace import Workspace
from server.actions import RUN_COMMAND, RunArguments, Scope, parse_run_arguments
from server.backend import Backend, CannotRun, NothingToDo, Resources
from server.channels import Channel, MessageChannel, WorkDoneChannel
from server.delivery import Finished, deliver, review_key
from server.editor import Editor, Results
from server.gitdiff import uncommitted_diff, workspace_diff
from server.jobs import Job, Jobs
from server.reporting import ProgressReporter, begin_message, begin_title, end_message
from server.selection import (
    Selection,
    build_request,
    selected_lines,
    take_selection,
    workspace_root,
)
from server.settings import Settings

_log = logging.getLogger(__name__)


class JobHost(Editor, Protocol):
    """What the job lifecycle uses of the server, beyond the editor's face."""

    jobs: Jobs
    backend: Backend
    results: Results

    async def settings_ready(self) -> None: ...

    def workspace_folders(self) -> list[Path]: ...

    def open_files(self) -> dict[str, str]:
        """The text of every file open in the editor, by its path, unsaved edits included."""

    @property
    def supports_progress(self) -> bool: ...

    @property
    def work_done_progress(self) -> WorkDoneProgress: ...

    async def window_show_message_request_async(
        self, params: types.ShowMessageRequestParams
    ) -> types.MessageActionItem | None: ...


# Offered by `window/showMessageRequest` to clients that run `ask` without a question.
COMMON_QUESTIONS = (
    "What could go wrong with this code?",
    "What does this code assume about its inputs?",
    "How could this be simpler?",
    "How should this be tested?",
)


def run_command(ls: JobHost, argument: object) -> dict[str, str]:
    args, selection = _read_arguments(ls, argument)
    job = ls.jobs.start(args.uri)
    job.task = asyncio.ensure_future(_run_job(ls, job, args, selection))
    return {"job": job.id, "status": "running"}


def _read_arguments(ls: JobHost, argument: object) -> tuple[RunArguments, Selection]:
    """The arguments and the selection as it is now, before anything else can change it."""
    try:
        args = parse_run_arguments(argument)
    except ValueError as error:
        raise JsonRpcInvalidParams(f"{RUN_COMMAND}: {error}") from None
    workspace_diff = args.mode is Mode.REVIEW_DIFF and args.scope is Scope.WORKSPACE
    document = ls.open_document(args.uri)
    # A review of the workspace's changes may name any file or folder in it.
    if document is None and not workspace_diff:
        raise JsonRpcInvalidParams(f"{RUN_COMMAND}: {args.uri} is not open in the editor")
    fs_path = to_fs_path(args.uri) if uri_scheme(args.uri) == "file" else None
    if fs_path is None:
        raise JsonRpcInvalidParams(f"{RUN_COMMAND}: {args.uri} is not a file: save it first")
    text = document.source if document is not None else ""
    language_id = (document.language_id if document is not None else None) or ""
    line_count = len(split_lines(text))
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
    selection = take_selection(args.uri, path, root, text, language_id, chosen, ls.open_files())
    return args, selection


async def _run_job(ls: JobHost, job: Job, args: RunArguments, selection: Selection) -> None:
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
            resources = ls.backend.acquire()
        except CannotRun as problem:
            ls.show(types.MessageType.Error, str(problem))
            return
        try:
            await _execute(ls, job, resources, args, selection)
        finally:
            ls.backend.release(resources)
    except Exception as error:
        _log.exception("job %s failed", job.id)
        ls.show(types.MessageType.Error, f"Deep think failed unexpectedly: {error!r} (see the log)")
    finally:
        ls.jobs.finish(job)


async def _pick_question(ls: JobHost, selection: Selection) -> str | None:
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


async def _execute(
    ls: JobHost, job: Job, resources: Resources, args: RunArguments, selection: Selection
) -> None:
    if args.mode.is_review:
        ls.publish_diagnostics(ls.results.diagnostics.clear(review_key(args, selection)))
    channel = await _open_channel(ls, job, args)
    channel.begin(
        begin_title(resources.config.orchestrator.parallel_agents), _begin(args, selection)
    )
    progress = Progress()
    reporter = ProgressReporter(asyncio.get_running_loop(), channel.report)
    progress.subscribe(reporter.on_snapshot)
    work = functools.partial(_perform, resources, args, selection, job, progress)
    try:
        finished = await ls.jobs.run_in_thread(work)
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
    channel.end(
        end_message(finished.result), shown_apart=finished.result.status is RunStatus.FAILED
    )
    settings = ls.backend.settings or Settings(resources.config)
    await deliver(ls, ls.results, finished, settings.output, settings.comment_max_lines)


async def _open_channel(ls: JobHost, job: Job, args: RunArguments) -> Channel:
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
    resources: Resources, args: RunArguments, selection: Selection, job: Job, progress: Progress
) -> Finished:
    """The blocking part, on a job thread."""
    try:
        workspace = Workspace(selection.root, buffers=selection.buffers)
    except ValueError as error:
        raise CannotRun(str(error)) from None
    orchestrator = Orchestrator(resources.config, workspace, resources.llm, resources.cache)
    diff = None
    if args.mode is Mode.REVIEW_DIFF and args.scope is Scope.WORKSPACE:
        diff = workspace_diff(selection.root)
    elif args.mode is Mode.REVIEW_DIFF:
        diff = uncommitted_diff(selection.path, selection.text, selection.relative_path)
    shown = shown_diff(diff or "", orchestrator.workspace.refusal)
    if diff is not None and not shown.text.strip():
        raise NothingToDo(f"nothing to review: {shown.note}")
    request = build_request(
        selection, args.mode, args.question, resources.config.context.max_tokens, shown.text
    )
    result = orchestrator.run(request, job.cancel, progress)
    return Finished(
        job.id,
        args,
        selection,
        result,
        diff=None if diff is None else shown.text,
        left_out=shown.note,
        question=request.question,
    )
