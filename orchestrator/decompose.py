"""Turn one request into exactly N sub-questions, with a fallback that works for any N.

A weak model's plan is taken for what it holds: near-JSON is repaired, and a plan with
fewer sub-questions than agents keeps them all and gets the rest from the role templates.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jiter
import json_repair

from orchestrator import prompts
from orchestrator.cancel import CancelToken
from orchestrator.llm import LLMClient, RunShare
from orchestrator.request import Request
from orchestrator.result import CallUsage, recorder

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Subtask:
    role: str
    question: str


@dataclass(frozen=True)
class Plan:
    subtasks: list[Subtask]
    note: str = ""  # why the role templates were used, if they were


class PlanError(ValueError):
    """The model's plan cannot be used; the message is fed back to it once."""


def decompose(
    request: Request,
    count: int,
    llm: LLMClient,
    model: str,
    cancel: CancelToken,
    calls: list[CallUsage],
    max_tokens: int | None = None,
    on_subtask: Callable[[int, Subtask], None] | None = None,
    *,
    share: RunShare,
) -> Plan:
    """Ask the model for `count` sub-questions; retry once on a bad reply, then fall back.

    `on_subtask(index, subtask)` hears of each sub-question as soon as it has streamed in
    whole, in order, so that its agent can start before the plan is complete. A retry
    streams its own plan and reports from index 0 again. Every request sent is added to
    `calls`, failed ones too.

    An LLMError from the endpoint propagates: the caller decides whether the
    endpoint is usable at all.
    """
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.DECOMPOSE_SYSTEM.format(count=count)},
        {"role": "user", "content": prompts.shared_context(request)},
    ]
    problem = ""
    for attempt in range(2):
        on_text = _Announcer(count, on_subtask).hear if on_subtask else None

        completion = llm.complete(
            model=model,
            messages=messages,
            cancel=cancel,
            on_text=on_text,
            max_tokens=max_tokens,
            json_object=True,
            on_attempt=recorder(calls, f"decompose {attempt + 1}", model),
            share=share,
            required=True,  # no plan, no run: it is sent whatever the budget
        )
        try:
            subtasks = parse_plan(completion.content, count)
        except PlanError as error:
            problem = str(error)
            messages += [
                {"role": "assistant", "content": completion.content},
                {
                    "role": "user",
                    "content": prompts.DECOMPOSE_RETRY.format(problem=problem, count=count),
                },
            ]
            continue
        if len(subtasks) == count:
            return Plan(subtasks)
        filled = subtasks + fallback_plan(request, count)[len(subtasks) :]
        note = (
            f"the plan had {len(subtasks)} usable sub-question(s) for {count} agents; "
            "the others come from the role templates"
        )
        return Plan(filled, note)
    return Plan(fallback_plan(request, count), f"decomposition unusable ({problem})")


def parse_plan(text: str, count: int) -> list[Subtask]:
    """The usable sub-questions of the model's plan, at most `count` of them.

    Items without a role or question, and copies of the prompt's example, are left out;
    PlanError says what is wrong when none is left.
    """
    items = _plan_items(_load_json(text))
    if not isinstance(items, list):
        raise PlanError('expected an object with a "subtasks" list')
    subtasks: list[Subtask] = []
    problems: list[str] = []
    for number, item in enumerate(items, start=1):
        subtask = _subtask(item)
        if isinstance(subtask, str):
            problems.append(f"subtask {number} {subtask}")
        else:
            subtasks.append(subtask)
    if not subtasks:
        raise PlanError(problems[0] if problems else "the subtasks list is empty")
    return subtasks[:count]


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


def _plan_items(data: Any) -> Any:
    """The list of items in a plan, also from the shapes small models give it: one item
    alone, or the list under another key (what JSON mode makes of the prompt)."""
    if not isinstance(data, dict) or "subtasks" in data:
        return data.get("subtasks") if isinstance(data, dict) else data
    if "question" in data:
        return [data]
    lists = [value for value in data.values() if isinstance(value, list)]
    return lists[0] if len(lists) == 1 else None


def _subtask(item: object) -> Subtask | str:
    """The subtask an item of the plan describes, or what it lacks."""
    role = item.get("role") if isinstance(item, dict) else None
    question = item.get("question") if isinstance(item, dict) else None
    if not (isinstance(role, str) and role.strip()):
        return 'has no "role" string'
    if not (isinstance(question, str) and question.strip()):
        return 'has no "question" string'
    if _copies_example(question):
        return "copies the example instead of planning"
    return Subtask(role.strip()[:60], question.strip())


def _copies_example(question: str) -> bool:
    """The question is the prompt's example, or nearly (small models change a word or two)."""
    # Compared word by word: as telling as by character, and cheap enough for the thread
    # every agent's request shares, which reads each item of a streamed plan.
    words = _words(question)
    return any(
        difflib.SequenceMatcher(None, words, example).ratio() >= _EXAMPLE_LIKENESS
        for example in _EXAMPLE_WORDS
    )


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


_EXAMPLE_WORDS = [_words(question) for _, question in prompts.EXAMPLE_PLAN]
_EXAMPLE_LIKENESS = 0.8


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
        # Small models write near-JSON: trailing commas, single quotes, a missing bracket.
        repaired = json_repair.loads(candidate[start:])
        if not isinstance(repaired, dict | list) or not repaired:
            raise PlanError(f"invalid JSON: {error.msg} at position {error.pos}") from None
        return repaired
    return value
