"""Merge the agents' answers into one, and pull structured findings out of a review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator import prompts
from orchestrator.answers import usable_answer
from orchestrator.cancel import CancelToken
from orchestrator.context import CHARS_PER_TOKEN, fit_budget
from orchestrator.findings import has_findings_block, split_findings
from orchestrator.llm import LLMClient, RunShare
from orchestrator.request import Request
from orchestrator.result import AgentResult, CallUsage, Finding


@dataclass(frozen=True)
class Synthesis:
    markdown: str
    findings: list[Finding]
    note: str = ""  # a problem with the findings block, if any


def synthesise(
    request: Request,
    answers: list[AgentResult],
    llm: LLMClient,
    model: str,
    cancel: CancelToken,
    calls: list[CallUsage],
    max_tokens: int | None = None,
    context_window: int | None = None,
    ranking: str = "",
    *,
    share: RunShare,
) -> Synthesis:
    """Merge the answers; every request sent is added to `calls`, failed ones too.

    Raises UnusableAnswer when the model's reply is garbage twice.
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
    if ranking:
        messages.append({"role": "user", "content": ranking})

    # One agent's answer repeated is a fair synthesis of it; several pasted together is not.
    prompt_size = None if len(answers) > 1 else 2
    answer = usable_answer(
        llm,
        model,
        messages,
        cancel,
        max_tokens,
        calls,
        "synthesis",
        share=share,
        required=True,  # the synthesis merges what the budget allowed: it is always sent
        prompt_size=prompt_size,
    )
    markdown, findings, note = split_findings(answer, request.path)
    if request.mode.is_review and not has_findings_block(answer):
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
        sections.append(f"{heading}\n*{answer.question}*\n\n{text}{_listed(answer.findings)}")
    return "\n\n".join(sections)


def _listed(findings: list[Finding]) -> str:
    """An agent's findings under its answer, so that the synthesis weighs them too."""
    lines = [
        f"- {f.path}:{f.start_line}-{f.end_line} ({f.severity}): {f.message}" for f in findings
    ]
    return "\n\nFindings:\n" + "\n".join(lines) if lines else ""
