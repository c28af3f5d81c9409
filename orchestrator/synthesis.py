"""Merge the agents' answers into one, and pull structured findings out of a review."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from orchestrator import prompts
from orchestrator.cancel import CancelToken
from orchestrator.llm import LLMClient
from orchestrator.request import Request
from orchestrator.result import AgentResult, CallUsage, Finding, Severity

_FINDINGS_BLOCK = re.compile(r"```findings\s*\n(.*?)```\s*", re.DOTALL)


@dataclass(frozen=True)
class Synthesis:
    markdown: str
    findings: list[Finding]
    call: CallUsage
    note: str = ""  # a problem with the findings block, if any


def synthesise(
    request: Request,
    answers: list[AgentResult],
    llm: LLMClient,
    model: str,
    cancel: CancelToken,
) -> Synthesis:
    system = prompts.SYNTHESIS_SYSTEM.format(count=len(answers))
    if request.mode.is_review:
        system += prompts.FINDINGS_INSTRUCTIONS
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": prompts.shared_context(request)},
        {"role": "user", "content": labelled_answers(answers)},
    ]
    completion = llm.complete(model=model, messages=messages, cancel=cancel)
    markdown, findings, note = split_findings(completion.content, request.path)
    return Synthesis(markdown, findings, CallUsage("synthesis", model, completion.usage), note)


def labelled_answers(answers: list[AgentResult]) -> str:
    """The agents' answers under headings naming each agent; also the fallback result."""
    sections = []
    for answer in answers:
        heading = f"## Agent {answer.index + 1}: {answer.role} ({answer.model})"
        sections.append(f"{heading}\n*{answer.question}*\n\n{answer.answer.strip()}")
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
