"""The single strategy: one call with the context a heavy run's agents get, nothing else.

It answers in the same shape (markdown, findings) so that heavy mode can be measured
against it; a reply that is not an answer is asked again once, as elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator import prompts
from orchestrator.answers import usable_answer
from orchestrator.cancel import CancelToken
from orchestrator.findings import split_findings
from orchestrator.llm import LLMClient, RunShare
from orchestrator.request import Request
from orchestrator.result import CallUsage, Finding


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

    answer = usable_answer(
        llm, model, messages, cancel, max_tokens, calls, "single", share=share, prompt_size=2
    )
    markdown, findings, note = split_findings(answer, request.path)
    return Answer(markdown, findings, note)
