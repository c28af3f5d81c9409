"""A finished job's result, delivered to the editor: hover, diagnostics, comment, preview.

Results belong to the code they were computed for: the user kept editing while the job
ran, so every placement finds that code again in the document as it is now.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path, to_fs_path

from orchestrator.context import split_lines
from orchestrator.request import Mode
from orchestrator.result import RunResult, RunStatus
from server.actions import RunArguments, Scope
from server.anchors import anchor_lines, line_break_of, relocate
from server.citations import link_citations
from server.comments import comment_insertion, style_for
from server.editor import Editor, Results
from server.gitdiff import changed_hunks
from server.reporting import (
    agent_views,
    comment_heading,
    failure_message,
    hover_footer,
    hover_heading,
    partial_message,
)
from server.results import AnchoredDiagnostic, FinishedResult, finding_diagnostic
from server.selection import Selection
from server.settings import Output

_log = logging.getLogger(__name__)

EDIT_ATTEMPTS = 3  # the document may change again between placing the comment and applying it


@dataclass(frozen=True)
class Finished:
    """A job's result, with what it was about."""

    job: str
    args: RunArguments
    selection: Selection
    result: RunResult
    diff: str | None = None  # what a review diff reviewed
    left_out: str = ""  # which files of the diff the model was not shown, and why
    question: str | None = None  # an ask's question, as the agents got it (a huge one cut)


async def deliver(
    ls: Editor, results: Results, finished: Finished, output: Output, max_lines: int
) -> None:
    """Every result goes to the hover, the diagnostics and `deepthink.result`; the comment
    only into an open document whose selected code is still there."""
    args, selection, result = finished.args, finished.selection, finished.result
    if result.status is RunStatus.CANCELLED:
        return
    if result.status is RunStatus.FAILED:
        ls.show(types.MessageType.Error, failure_message(result))
        return
    if result.status is RunStatus.PARTIAL:
        ls.show(types.MessageType.Warning, partial_message(result))
    heading = hover_heading(args.mode, finished.question, result)
    markdown = (
        heading
        + link_citations(
            result.markdown, functools.partial(_file_uri, selection.root), result.bad_citations
        )
        + hover_footer(result)
        + (f"\n\n---\n*Not reviewed: {finished.left_out}*" if finished.left_out else "")
    )
    status = result.status.value
    record = FinishedResult(finished.job, args.uri, args.range, args.mode.value, status, markdown)
    results.finished.put(record)
    if args.mode.is_review:
        findings = _diagnostics(ls, selection, result)
        ls.publish_diagnostics(results.diagnostics.replace(review_key(args, selection), findings))
    if args.mode is Mode.REVIEW_DIFF:
        _deliver_diff_review(ls, results, finished, markdown)
        return
    document = ls.open_document(args.uri)
    if document is None:
        # Editing a file the user closed would leave an unsaved change they cannot see.
        # The hover waits for the code: reopening the file finds it again.
        ls.log(types.MessageType.Info, markdown)
        if result.markdown.strip():
            results.hovers.put(args.uri, selection.anchor, markdown)
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
    results.hovers.put(args.uri, anchor, markdown)
    if (args.output or output) is Output.COMMENT:
        await _insert_comment(ls, finished, result.markdown, max_lines)


def _deliver_diff_review(ls: Editor, results: Results, finished: Finished, markdown: str) -> None:
    """Findings are diagnostics already; the summary goes on hover over the changed lines of
    this document and into the log, never into the code."""
    args, selection = finished.args, finished.selection
    snapshot = split_lines(selection.text)
    document = ls.open_document(args.uri)
    for hunk in changed_hunks(finished.diff or ""):
        if hunk.path != selection.relative_path or hunk.start_line > len(snapshot):
            continue
        lines = anchor_lines(selection.text, hunk.start_line - 1, hunk.end_line - 1)
        anchor = relocate(lines, document.source) if document is not None else lines
        if anchor is not None:
            results.hovers.put(args.uri, anchor, markdown)
    ls.log(types.MessageType.Info, markdown)
    findings = len(finished.result.findings)
    where = "the workspace" if args.scope is Scope.WORKSPACE else selection.relative_path
    ls.show(
        types.MessageType.Info,
        f"Deep think reviewed the changes of {where}: {findings} finding"
        f"{'s' if findings != 1 else ''} in the problems list; the summary is in the output "
        "log and on hover over the changed lines."
        + (f" Not reviewed: {finished.left_out}." if finished.left_out else ""),
    )


def review_key(args: RunArguments, selection: Selection) -> str:
    """Whose findings a review replaces: the document's, or the workspace's for its diff."""
    if args.mode is Mode.REVIEW_DIFF and args.scope is Scope.WORKSPACE:
        return from_fs_path(str(selection.root)) or str(selection.root)
    return args.uri


def _diagnostics(
    ls: Editor, selection: Selection, result: RunResult
) -> dict[str, list[AnchoredDiagnostic]]:
    """Findings cite lines of the files as they were; in the reviewed document they are
    placed on that snapshot and then found again in its current text."""
    snapshot = split_lines(selection.text)
    found: dict[str, list[AnchoredDiagnostic]] = {}
    for finding in result.findings:
        target = _finding_uri(selection, finding.path)
        if target is None:
            _log.info("finding for a file that does not exist: %s", finding)
            continue
        lines = snapshot if target == selection.uri else _file_lines(ls, target)
        if lines is None:
            continue
        views = agent_views(finding, result.agents)
        item = finding_diagnostic(finding, lines, ls.columns, views)
        if item is not None and target == selection.uri:
            item = _current(ls, selection.uri, item)
        if item is not None:
            found.setdefault(target, []).append(item)
    return found


def _current(ls: Editor, uri: str, item: AnchoredDiagnostic) -> AnchoredDiagnostic | None:
    document = ls.open_document(uri)
    if document is None:
        return item
    anchor = relocate(item.anchor, document.source)
    return None if anchor is None else item.moved(anchor)


def _file_lines(ls: Editor, uri: str) -> list[str] | None:
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


async def _insert_comment(ls: Editor, finished: Finished, markdown: str, max_lines: int) -> None:
    args, selection = finished.args, finished.selection
    style = style_for(selection.language_id)
    if style is None:
        ls.show(
            types.MessageType.Info,
            f"Deep think knows no comment syntax for '{selection.language_id}', so it inserted "
            "nothing: hover over the selected code to read the result.",
        )
        return
    heading = comment_heading(args.mode, finished.question)
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
            response = await ls.apply_edit(edit)
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


def _line_start(ls: Editor, lines: list[str], line: int) -> types.Position:
    """Where `line` starts; one past the last line is the end of the document."""
    if line < len(lines):
        return types.Position(line, 0)
    return types.Position(len(lines) - 1, ls.columns(lines[-1]))


def _insertion_edit(
    ls: Editor, uri: str, version: int | None, at: types.Position, text: str
) -> types.WorkspaceEdit:
    edit = types.TextEdit(range=types.Range(at, at), new_text=text)
    if not ls.supports_document_changes:
        return types.WorkspaceEdit(changes={uri: [edit]})
    # With the version, an editor whose document moved on refuses instead of misplacing it.
    document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(document, [edit])])
