"""The `deepthink.run` command's argument object and the code actions that carry it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lsprotocol import types
from lsprotocol.converters import get_converter

from orchestrator.request import Mode
from server.results import SOURCE
from server.settings import Output, parse_output

RUN_COMMAND = "deepthink.run"
CLEAR_DIAGNOSTICS_COMMAND = "deepthink.clearDiagnostics"
CANCEL_COMMAND = "deepthink.cancel"
RESULT_COMMAND = "deepthink.result"
VIEWS_COMMAND = "deepthink.showViews"
VIEWS_TITLE = "Deep think: each agent's view"
ACTION_KIND = "deepthink"  # clients can ask for these actions only: `only: ["deepthink"]`


class Scope(StrEnum):
    """What a review diff covers: the document's own changes, or every uncommitted one."""

    FILE = "file"
    WORKSPACE = "workspace"


SELECTION_TITLES = {
    Mode.EXPLAIN: "Deep think: explain",
    Mode.REVIEW: "Deep think: review",
    # The ellipsis tells the user a question follows: the client prompts for it, or the
    # server offers common questions to pick from.
    Mode.ASK: "Deep think: ask…",
}
DIFF_TITLES = {
    Scope.FILE: "Deep think: review diff (this file)",
    Scope.WORKSPACE: "Deep think: review diff (workspace)",
}

_converter = get_converter()
_KEYS = ("uri", "range", "mode", "question", "output", "scope", "workDoneToken")
_SHAPE = "{uri, range, mode, question?, output?, scope?, workDoneToken?}"


@dataclass(frozen=True)
class RunArguments:
    """The one argument of `deepthink.run`: `{uri, range, mode, question?, output?, scope?,
    workDoneToken?}`. `range` may be left out for a review diff, which is about the file."""

    uri: str
    range: types.Range | None
    mode: Mode
    question: str | None = None
    output: Output | None = None  # None: the `output` setting decides
    scope: Scope = Scope.FILE  # of a review diff
    work_done_token: str | int | None = None  # a progress the client created for the job

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"uri": self.uri, "mode": self.mode.value}
        if self.range is not None:
            value["range"] = _converter.unstructure(self.range)
        if self.question is not None:
            value["question"] = self.question
        if self.output is not None:
            value["output"] = self.output.value
        if self.mode is Mode.REVIEW_DIFF:
            value["scope"] = self.scope.value
        if self.work_done_token is not None:
            value["workDoneToken"] = self.work_done_token
        return value


def parse_run_arguments(value: object) -> RunArguments:
    """Check the argument object as a client sent it; ValueError says what is wrong."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object {_SHAPE}, got {value!r}")
    unknown = set(value) - set(_KEYS)
    if unknown:
        raise ValueError(f"unknown argument keys: {', '.join(sorted(unknown))}")
    uri = value.get("uri")
    if not isinstance(uri, str) or not uri:
        raise ValueError(f"uri: expected a document URI, got {uri!r}")
    mode = value.get("mode")
    if not isinstance(mode, str) or mode not in {m.value for m in Mode}:
        modes = ", ".join(repr(m.value) for m in Mode)
        raise ValueError(f"mode: expected one of {modes}, got {mode!r}")
    selection = _range(value.get("range"), optional=mode == Mode.REVIEW_DIFF)
    question = value.get("question")
    if question is not None and not isinstance(question, str):
        raise ValueError(f"question: expected a string, got {question!r}")
    if question is not None:
        question = question.strip() or None  # an empty answer to the prompt: ask again
    output = value.get("output")
    scope = value.get("scope", Scope.FILE.value)
    if scope not in {s.value for s in Scope}:
        raise ValueError(f"scope: expected 'file' or 'workspace', got {scope!r}")
    token = value.get("workDoneToken")
    if token is not None and (not isinstance(token, str | int) or isinstance(token, bool)):
        raise ValueError(f"workDoneToken: expected a string or an integer, got {token!r}")
    return RunArguments(
        uri,
        selection,
        Mode(mode),
        question,
        parse_output(output) if output is not None else None,
        Scope(scope),
        token,
    )


def _range(value: object, optional: bool) -> types.Range | None:
    if value is None and optional:
        return None
    try:
        selection = _converter.structure(value, types.Range)
    except Exception:
        shape = "{start: {line, character}, end: {line, character}}"
        raise ValueError(f"range: expected {shape}, got {value!r}") from None
    if selection.start == selection.end and not optional:
        raise ValueError("range: empty; select the code to think about")
    return selection


def code_actions(
    uri: str,
    selection: types.Range,
    only: Sequence[str] | None,
    resolve_command: bool,
    invoked: bool = True,
) -> list[types.CodeAction]:
    """The deep-think actions at a selection or a position.

    A selection gets every action; a bare cursor only the review diffs, and only when the
    user asked for actions (`invoked`): offered on every line automatically, they would
    put a light bulb everywhere. With `resolve_command` (the client resolves `command`
    lazily) the listing carries only the arguments as `data`, and codeAction/resolve adds
    the command.
    """
    if not _wanted(only):
        return []
    selected = selection.start != selection.end
    runs = [RunArguments(uri, selection, mode) for mode in SELECTION_TITLES] if selected else []
    if selected or invoked:
        runs += [RunArguments(uri, None, Mode.REVIEW_DIFF, scope=scope) for scope in Scope]
    actions = []
    for arguments in runs:
        action = types.CodeAction(
            title=_title(arguments), kind=ACTION_KIND, data=arguments.to_json()
        )
        actions.append(action if resolve_command else resolve_code_action(action))
    return actions


def view_actions(
    diagnostics: Sequence[types.Diagnostic], only: Sequence[str] | None, resolve_command: bool
) -> list[types.CodeAction]:
    """For each deep-think diagnostic at the cursor, an action showing each agent's view.

    Like the run actions, the listing carries only `data` when the client resolves the
    command lazily."""
    if only and not any(types.CodeActionKind.QuickFix.value.startswith(k) for k in only):
        return []
    actions = []
    for diagnostic in diagnostics:
        data = diagnostic.data
        views = data.get("views") if isinstance(data, Mapping) else None
        if diagnostic.source != SOURCE or not isinstance(views, str):
            continue
        action = types.CodeAction(
            title=VIEWS_TITLE,
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diagnostic],
            data={"views": views},
        )
        actions.append(action if resolve_command else resolve_code_action(action))
    return actions


def _title(arguments: RunArguments) -> str:
    if arguments.mode is Mode.REVIEW_DIFF:
        return DIFF_TITLES[arguments.scope]
    return SELECTION_TITLES[arguments.mode]


def resolve_code_action(action: types.CodeAction) -> types.CodeAction:
    data = action.data
    if action.command is None and isinstance(data, Mapping) and isinstance(data.get("views"), str):
        action.command = types.Command(
            title=action.title, command=VIEWS_COMMAND, arguments=[data["views"]]
        )
    elif action.command is None and data is not None:
        arguments = parse_run_arguments(data)
        action.command = types.Command(
            title=action.title, command=RUN_COMMAND, arguments=[arguments.to_json()]
        )
    return action


def _wanted(only: Sequence[str] | None) -> bool:
    """Does the client's `only` filter admit our kind? A kind admits its sub-kinds."""
    if not only:
        return True
    return any(kind == ACTION_KIND or ACTION_KIND.startswith(kind + ".") for kind in only)
