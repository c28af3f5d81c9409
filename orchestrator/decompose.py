"""Turn one request into exactly N sub-questions, with a fallback that works for any N."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jiter

from orchestrator import prompts
from orchestrator.cancel import CancelToken
from orchestrator.llm import LLMClient
from orchestrator.request import Request
from orchestrator.result import CallUsage

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Subtask:
    role: str
    question: str


@dataclass(frozen=True)
class Plan:
    subtasks: list[Subtask]
    calls: list[CallUsage]
    note: str = ""  # why the fallback was used, if it was


class PlanError(ValueError):
    """The model's plan cannot be used; the message is fed back to it once."""


def decompose(
    request: Request,
    count: int,
    llm: LLMClient,
    model: str,
    cancel: CancelToken,
    on_subtask: Callable[[int, Subtask], None] | None = None,
) -> Plan:
    """Ask the model for `count` sub-questions; retry once on a bad reply, then fall back.

    `on_subtask(index, subtask)` hears of each sub-question as soon as it has streamed in
    whole, in order, so that its agent can start before the plan is complete. A retry
    streams its own plan and reports from index 0 again.

    An LLMError from the endpoint propagates: the caller decides whether the
    endpoint is usable at all.
    """
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.DECOMPOSE_SYSTEM.format(count=count)},
        {"role": "user", "content": prompts.shared_context(request)},
    ]
    calls: list[CallUsage] = []
    problem = ""
    for attempt in range(2):
        on_text = _Announcer(count, on_subtask).hear if on_subtask else None
        completion = llm.complete(model=model, messages=messages, cancel=cancel, on_text=on_text)
        calls.append(CallUsage(f"decompose {attempt + 1}", model, completion.usage))
        try:
            return Plan(parse_plan(completion.content, count), calls)
        except PlanError as error:
            problem = str(error)
            messages += [
                {"role": "assistant", "content": completion.content},
                {
                    "role": "user",
                    "content": prompts.DECOMPOSE_RETRY.format(problem=problem, count=count),
                },
            ]
    return Plan(fallback_plan(request, count), calls, f"decomposition unusable ({problem})")


def parse_plan(text: str, count: int) -> list[Subtask]:
    """Parse the model's JSON plan; raise PlanError saying what is wrong."""
    data = _load_json(text)
    items = data.get("subtasks") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise PlanError('expected an object with a "subtasks" list')
    if len(items) != count:
        raise PlanError(f"expected exactly {count} subtasks, got {len(items)}")
    subtasks = []
    for number, item in enumerate(items, start=1):
        subtask = _subtask(item)
        if isinstance(subtask, str):
            raise PlanError(f"subtask {number} {subtask}")
        subtasks.append(subtask)
    return subtasks


def streamed_subtasks(text: str, count: int, skip: int = 0) -> list[Subtask]:
    """The sub-questions complete so far in a plan still streaming in, after the first
    `skip` ones (which are not checked again), up to the `count`th.

    A string still open is left out of the partial parse, so an item counts once its role
    and question have both been closed.
    """
    try:
        data = _load_json(text, partial=True)
    except PlanError:
        return []
    items = data.get("subtasks") if isinstance(data, dict) else data
    subtasks: list[Subtask] = []
    for item in items[skip:count] if isinstance(items, list) else ():
        subtask = _subtask(item)
        if isinstance(subtask, str):
            break
        subtasks.append(subtask)
    return subtasks


class _Announcer:
    """Reports each sub-question of one streamed plan once, as it completes."""

    def __init__(self, count: int, on_subtask: Callable[[int, Subtask], None]) -> None:
        self._count = count
        self._on_subtask = on_subtask
        self._announced = 0
        self._read = 0  # characters of the text already looked at

    def hear(self, text: str) -> None:
        # The text arrives a few characters at a time, on the thread all agents' requests
        # share: parse again only once an item may have closed (the last one does with `}`).
        fresh = text[self._read :] if len(text) >= self._read else text  # a retry starts over
        self._read = len(text)
        if "}" not in fresh:
            return
        for subtask in streamed_subtasks(text, self._count, skip=self._announced):
            self._on_subtask(self._announced, subtask)
            self._announced += 1


def _subtask(item: object) -> Subtask | str:
    """The subtask an item of the plan describes, or what it lacks."""
    role = item.get("role") if isinstance(item, dict) else None
    question = item.get("question") if isinstance(item, dict) else None
    if not (isinstance(role, str) and role.strip()):
        return 'has no "role" string'
    if not (isinstance(question, str) and question.strip()):
        return 'has no "question" string'
    return Subtask(role.strip()[:60], question.strip())


def fallback_plan(request: Request, count: int) -> list[Subtask]:
    """Role templates cycled to any count; repeats are told to take a different angle."""
    subtasks = []
    for index in range(count):
        role, question = prompts.FALLBACK_ROLES[index % len(prompts.FALLBACK_ROLES)]
        round_number = index // len(prompts.FALLBACK_ROLES) + 1
        if round_number > 1:
            role = f"{role} {round_number}"
            question += " Take a different angle from the other agents with this role."
        subtasks.append(Subtask(role, f"{question} The request: {request.task()}"))
    return subtasks


def _load_json(text: str, partial: bool = False) -> Any:
    """The JSON value in the reply; `partial` reads the beginning of one still streaming."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise PlanError("no JSON found in the reply")
    if partial:
        try:
            return jiter.from_json(candidate[start:].encode(), partial_mode=True)
        except ValueError as error:
            raise PlanError(f"invalid JSON: {error}") from None
    try:
        value, _ = json.JSONDecoder().raw_decode(candidate[start:])
    except json.JSONDecodeError as error:
        raise PlanError(f"invalid JSON: {error.msg} at position {error.pos}") from None
    return value
