"""The `deepthink.run` command's argument object and the code actions that carry it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from lsprotocol.converters import get_converter

from orchestrator.request import Mode
from server.settings import Output, parse_output

RUN_COMMAND = "deepthink.run"
CLEAR_DIAGNOSTICS_COMMAND = "deepthink.clearDiagnostics"
CANCEL_COMMAND = "deepthink.cancel"
ACTION_KIND = "deepthink"  # clients can ask for these actions only: `only: ["deepthink"]`

TITLES = {
    Mode.EXPLAIN: "Deep think: explain",
    Mode.REVIEW: "Deep think: review",
    # The ellipsis tells the user a question follows; a client that cannot prompt for
    # one runs it with the default question.
    Mode.ASK: "Deep think: ask…",
    Mode.REVIEW_DIFF: "Deep think: review diff",
}

_converter = get_converter()


@dataclass(frozen=True)
class RunArguments:
    """`{uri, range, mode, question?, output?}`: the one argument of `deepthink.run`."""

    uri: str
    range: types.Range
    mode: Mode
    question: str | None = None
    output: Output | None = None  # None: the `output` setting decides

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "uri": self.uri,
            "range": _converter.unstructure(self.range),
            "mode": self.mode.value,
        }
        if self.question is not None:
            value["question"] = self.question
        if self.output is not None:
            value["output"] = self.output.value
        return value


def parse_run_arguments(value: object) -> RunArguments:
    """Check the argument object as a client sent it; ValueError says what is wrong."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expected an object {{uri, range, mode, question?, output?}}, got {value!r}"
        )
    unknown = set(value) - {"uri", "range", "mode", "question", "output"}
    if unknown:
        raise ValueError(f"unknown argument keys: {', '.join(sorted(unknown))}")
    uri = value.get("uri")
    if not isinstance(uri, str) or not uri:
        raise ValueError(f"uri: expected a document URI, got {uri!r}")
    try:
        selection = _converter.structure(value.get("range"), types.Range)
    except Exception:
        raise ValueError(
            "range: expected {start: {line, character}, end: {line, character}}, "
            f"got {value.get('range')!r}"
        ) from None
    if selection.start == selection.end:
        raise ValueError("range: empty; select the code to think about")
    mode = value.get("mode")
    if not isinstance(mode, str) or mode not in {m.value for m in Mode}:
        modes = ", ".join(repr(m.value) for m in Mode)
        raise ValueError(f"mode: expected one of {modes}, got {mode!r}")
    question = value.get("question")
    if question is not None and not isinstance(question, str):
        raise ValueError(f"question: expected a string, got {question!r}")
    if question is not None:
        question = question.strip() or None  # an empty answer to the prompt: the default
    output = value.get("output")
    return RunArguments(
        uri, selection, Mode(mode), question, parse_output(output) if output is not None else None
    )


def code_actions(
    uri: str, selection: types.Range, only: Sequence[str] | None, resolve_command: bool
) -> list[types.CodeAction]:
    """The deep-think actions for a non-empty selection.

    With `resolve_command` (the client resolves `command` lazily) the listing carries only
    the arguments as `data`, and codeAction/resolve adds the command.
    """
    if selection.start == selection.end or not _wanted(only):
        return []
    actions = []
    for mode, title in TITLES.items():
        arguments = RunArguments(uri, selection, mode)
        action = types.CodeAction(title=title, kind=ACTION_KIND, data=arguments.to_json())
        actions.append(action if resolve_command else resolve_code_action(action))
    return actions


def resolve_code_action(action: types.CodeAction) -> types.CodeAction:
    if action.command is None and action.data is not None:
        arguments = parse_run_arguments(action.data)
        action.command = types.Command(
            title=action.title, command=RUN_COMMAND, arguments=[arguments.to_json()]
        )
    return action


def _wanted(only: Sequence[str] | None) -> bool:
    """Does the client's `only` filter admit our kind? A kind admits its sub-kinds."""
    if not only:
        return True
    return any(kind == ACTION_KIND or ACTION_KIND.startswith(kind + ".") for kind in only)
