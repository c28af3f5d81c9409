"""The `single` configuration: one call with the same context as heavy mode, and no more.

No plan, no agents, no tools: the code the agents would see, one reviewer, one answer with
its findings block. It is kept apart so that the engine's own single-call strategy can take
its place once there is one.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrator import prompts
from orchestrator.cancel import Cancelled, CancelToken
from orchestrator.context import CHARS_PER_TOKEN, shrink_request
from orchestrator.llm import LLMClient, LLMError, Usage
from orchestrator.request import Request
from orchestrator.result import CallUsage, RunResult, RunStatus
from orchestrator.synthesis import split_findings

SINGLE_SYSTEM = """\
You are a senior engineer reviewing code on your own, in one answer. Be critical and \
precise: report real problems (bugs, risks, misuse), not style, and cite `path:line`. \
Write concise markdown that answers the user's request directly."""


def run_single(
    request: Request, llm: LLMClient, model: str, cancel: CancelToken, max_tokens: int
) -> RunResult:
    """Review in one call; a failure is a failed result, never an exception.

    In a known context window the code is cut, and the answer capped, as the engine does.
    """
    started = time.monotonic()
    calls: list[CallUsage] = []
    system = SINGLE_SYSTEM + (prompts.FINDINGS_INSTRUCTIONS if request.mode.is_review else "")
    if (window := llm.context_window(model)) is not None:
        max_tokens = min(max_tokens, max(16, window // 4))
        room = window - max_tokens - len(system) // CHARS_PER_TOKEN - window // 4
        request = shrink_request(request, max(100, room))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": prompts.shared_context(request)},
    ]

    def record(usage: Usage, error: str) -> None:
        calls.append(CallUsage("single", model, usage, error))

    def finish(status: RunStatus, markdown: str = "", **extra: Any) -> RunResult:
        return RunResult(status, markdown, calls=calls, seconds=time.monotonic() - started, **extra)

    try:
        completion = llm.complete(
            model=model, messages=messages, cancel=cancel, max_tokens=max_tokens, on_attempt=record
        )
    except Cancelled:
        return finish(RunStatus.CANCELLED)
    except LLMError as error:
        return finish(RunStatus.FAILED, failures=[str(error)])
    markdown, findings, note = split_findings(completion.content, request.path)
    return finish(
        RunStatus.DONE, markdown, findings=findings, failures=[f"single: {note}"] if note else []
    )
