"""The single strategy: one call with the context a heavy run's agents get, nothing else.

It answers in the same shape (markdown, findings) so that heavy mode can be measured
against it; a reply that is not an answer is asked again once, as elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator import prompts
from orchestrator.answers import corrective, unusable
from orchestrator.cancel import CancelToken
from orchestrator.findings import split_findings
from orchestrator.llm import LLMClient, RunShare, Usage
from orchestrator.request import Request
from orchestrator.result import CallUsage, Finding


class UnusableAnswer(Exception):
    """The model's reply, even after a corrective retry, is not an answer."""


@dataclass(frozen=True)
class Answer:
    markdown: str
    findings: list[Finding]
    note: str  # a problem with the findings block, if any


def answer_once(
    request: Request,
    llm: LLMClient,
    model: str,
    cancel: CancelToken,
    calls: list[CallUsage],
    max_tokens: int,
    share: RunShare,
) -> Answer:
    """Raises Cancelled, DeadlineExceeded, LLMError or UnusableAnswer."""
    system = prompts.SINGLE_SYSTEM
    if request.mode.is_review:
        system += prompts.FINDINGS_INSTRUCTIONS
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": prompts.shared_context(request)},
    ]

    def record(usage: Usage, error: str) -> None:
        calls.append(CallUsage("single", model, usage, error))

    for retry in (False, True):
        completion = llm.complete(
            model=model,
            messages=messages,
            cancel=cancel,
            max_tokens=max_tokens,
            on_attempt=record,
            share=share,
        )
        if not (problem := unusable(completion.content, messages[:2])):
            break
        if retry:
            raise UnusableAnswer(f"unusable answer after a retry: {problem}")
        messages += [
            {"role": "assistant", "content": completion.content},
            {"role": "user", "content": corrective(problem)},
        ]
    markdown, findings, note = split_findings(completion.content, request.path)
    return Answer(markdown, findings, note)
