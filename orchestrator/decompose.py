"""Turn one request into exactly N sub-questions, with a fallback that works for any N."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

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
    request: Request, count: int, llm: LLMClient, model: str, cancel: CancelToken
) -> Plan:
    """Ask the model for `count` sub-questions; retry once on a bad reply, then fall back.

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
        completion = llm.complete(model=model, messages=messages, cancel=cancel)
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
        role = item.get("role") if isinstance(item, dict) else None
        question = item.get("question") if isinstance(item, dict) else None
        if not (isinstance(role, str) and role.strip()):
            raise PlanError(f'subtask {number} has no "role" string')
        if not (isinstance(question, str) and question.strip()):
            raise PlanError(f'subtask {number} has no "question" string')
        subtasks.append(Subtask(role.strip()[:60], question.strip()))
    return subtasks


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


def _load_json(text: str) -> Any:
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise PlanError("no JSON found in the reply")
    try:
        value, _ = json.JSONDecoder().raw_decode(candidate[start:])
    except json.JSONDecodeError as error:
        raise PlanError(f"invalid JSON: {error.msg} at position {error.pos}") from None
    return value
