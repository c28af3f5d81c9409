"""Merge the agents' answers into one, and pull structured findings out of a review."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from orchestrator import prompts
from orchestrator.answers import corrective, unusable
from orchestrator.cancel import CancelToken
from orchestrator.context import CHARS_PER_TOKEN, fit_budget
from orchestrator.llm import LLMClient, Usage
from orchestrator.request import Request
from orchestrator.result import AgentResult, CallUsage, Finding, Severity

_FINDINGS_BLOCK = re.compile(r"```findings\s*\n(.*?)```\s*", re.DOTALL)


@dataclass(frozen=True)
class Synthesis:
    markdown: str
    findings: list[Finding]
    note: str = ""  # a problem with the findings block, if any


class UnusableSynthesis(Exception):
    """The synthesis, even after a corrective retry, is not an answer; the message says why."""


def synthesise(
    request: Request,
    answers: list[AgentResult],
    llm: LLMClient,
    model: str,
    cancel: CancelToken,
    calls: list[CallUsage],
    max_tokens: int | None = None,
    context_window: int | None = None,
) -> Synthesis:
    """Merge the answers; every request sent is added to `calls`, failed ones too.

    Raises UnusableSynthesis when the model's reply is garbage twice.
    """
    system = prompts.SYNTHESIS_SYSTEM.format(count=len(answers))
    if request.mode.is_review:
        system += prompts.FINDINGS_INSTRUCTIONS
    shared = prompts.shared_context(request)
    room = None
    if context_window is not None:
        room = context_window - (max_tokens or 0) - (len(system) + len(shared)) // CHARS_PER_TOKEN
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": shared},
        {"role": "user", "content": labelled_answers(answers, room)},
    ]

    def record(usage: Usage, error: str) -> None:
        calls.append(CallUsage("synthesis", model, usage, error))

    for retry in (False, True):
        completion = llm.complete(
            model=model, messages=messages, cancel=cancel, max_tokens=max_tokens, on_attempt=record
        )
        # One agent's answer repeated is a fair synthesis of it; several pasted together is not.
        said = messages if len(answers) > 1 else messages[:2]
        if not (problem := unusable(completion.content, said)):
            break
        if retry:
            raise UnusableSynthesis(f"unusable answer after a retry: {problem}")
        messages += [
            {"role": "assistant", "content": completion.content},
            {"role": "user", "content": corrective(problem)},
        ]
    markdown, findings, note = split_findings(completion.content, request.path)
    if request.mode.is_review and not _FINDINGS_BLOCK.search(completion.content):
        note = "the review has no findings block, so no diagnostics were published"
    return Synthesis(markdown, findings, note)


def labelled_answers(answers: list[AgentResult], max_tokens: int | None = None) -> str:
    """The agents' answers under headings naming each agent; also the fallback result.

    With `max_tokens`, each answer is cut to its share so that all of them fit.
    """
    share = max(100, max_tokens // max(1, len(answers))) if max_tokens is not None else None
    sections = []
    for answer in answers:
        heading = f"## Agent {answer.index + 1}: {answer.role} ({answer.model})"
        text = answer.answer.strip()
        if share is not None:
            text = fit_budget(text, share)
        sections.append(f"{heading}\n*{answer.question}*\n\n{text}")
    return "\n\n".join(sections)


def split_findings(text: str, default_path: str) -> tuple[str, list[Finding], str]:
    """Separate the ```findings block from the markdown; tolerate a malformed block."""
    match = _FINDINGS_BLOCK.search(text)
    if match is None:
        return text.strip(), [], ""
    markdown = (text[: match.start()] + text[match.end() :]).strip()
    try:
        items = json.loads(match.group(1))
    except json.JSONDecodeError as error:
        return markdown, [], f"the findings block is not valid JSON ({error.msg})"
    if not isinstance(items, list):
        return markdown, [], "the findings block is not a JSON list"
    findings = [finding for item in items if (finding := _finding(item, default_path))]
    skipped = len(items) - len(findings)
    note = f"{skipped} malformed finding(s) skipped" if skipped else ""
    return markdown, findings, note


def _finding(item: Any, default_path: str) -> Finding | None:
    if not isinstance(item, dict) or not isinstance(item.get("message"), str):
        return None
    try:
        start = int(item.get("start_line") or item.get("line") or 0)
        end = int(item.get("end_line") or start)
    except (TypeError, ValueError):
        return None
    if start < 1:
        return None
    try:
        severity = Severity(str(item.get("severity", "warning")).lower())
    except ValueError:
        severity = Severity.WARNING
    path = item.get("path")
    if not isinstance(path, str) or not path:
        path = default_path
    return Finding(path, start, max(start, end), severity, item["message"].strip())
