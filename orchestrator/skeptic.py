"""The skeptic pass: one call per finding, in parallel, that tries to refute it against the code.

A finding the skeptic refutes leaves the diagnostics but stays in the result, with the
reason, so that the user can disagree. A call that fails, or a verdict that cannot be read,
keeps the finding: the pass only ever removes what it has argued against.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import json_repair

from orchestrator import prompts
from orchestrator.cancel import CancelToken
from orchestrator.llm import LLMClient, LLMError, RunShare
from orchestrator.request import Request
from orchestrator.result import CallUsage, Finding, Rejected, recorder

Excerpt = Callable[[Finding], str]
"""The numbered lines around a finding, as the skeptic sees them ('' when unreadable)."""


@dataclass(frozen=True)
class Verified:
    kept: list[Finding]
    rejected: list[Rejected]
    failures: list[str]


@dataclass(frozen=True)
class Skeptic:
    llm: LLMClient
    model: str
    max_tokens: int
    workers: int
    share: RunShare

    def verify(
        self,
        request: Request,
        findings: list[Finding],
        excerpt: Excerpt,
        cancel: CancelToken,
        calls: list[CallUsage],
    ) -> Verified:
        """Check every finding; raises Cancelled (or DeadlineExceeded) when `cancel` fires.

        Requests are added to `calls` in the order of the findings, whatever order they
        finished in.
        """
        shared = prompts.shared_context(request)
        own_calls: list[list[CallUsage]] = [[] for _ in findings]
        with ThreadPoolExecutor(max(1, self.workers), "deepthink-verify") as pool:
            runs = [
                pool.submit(self._check, n, f, shared, excerpt(f), cancel, own_calls[n])
                for n, f in enumerate(findings)
            ]
            outcomes: list[tuple[bool, str] | LLMError] = []
            try:
                for run in runs:
                    try:
                        outcomes.append(run.result())
                    except LLMError as error:
                        outcomes.append(error)
            finally:
                calls += [call for own in own_calls for call in own]
        kept: list[Finding] = []
        rejected: list[Rejected] = []
        failed: list[str] = []
        for finding, outcome in zip(findings, outcomes, strict=True):
            if isinstance(outcome, LLMError):
                failed.append(str(outcome))
                kept.append(finding)
            elif outcome[0]:
                rejected.append(Rejected(finding, outcome[1]))
            else:
                kept.append(finding)
        failures = []
        if failed:
            failures.append(
                f"verification failed for {len(failed)} finding(s), kept unverified: {failed[0]}"
            )
        return Verified(kept, rejected, failures)

    def _check(
        self,
        number: int,
        finding: Finding,
        shared: str,
        code: str,
        cancel: CancelToken,
        calls: list[CallUsage],
    ) -> tuple[bool, str]:
        """(refuted, reason) for one finding."""
        cancel.raise_if_cancelled()
        claim = json.dumps(
            {
                "path": finding.path,
                "start_line": finding.start_line,
                "end_line": finding.end_line,
                "severity": finding.severity.value,
                "message": finding.message,
            }
        )
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.SKEPTIC_SYSTEM},
            {"role": "user", "content": shared},
            {"role": "user", "content": prompts.SKEPTIC_TASK.format(claim=claim, code=code)},
        ]

        completion = self.llm.complete(
            model=self.model,
            messages=messages,
            cancel=cancel,
            max_tokens=self.max_tokens,
            json_object=True,
            on_attempt=recorder(calls, f"verify {number + 1}", self.model),
            share=self.share,
        )
        return verdict(completion.content)


def verdict(text: str) -> tuple[bool, str]:
    """(refuted, reason) from the skeptic's reply; anything unreadable refutes nothing."""
    start = text.find("{")
    parsed = json_repair.loads(text[start:]) if start >= 0 else None
    if not isinstance(parsed, dict):
        return False, ""
    refuted = str(parsed.get("verdict", "")).strip().lower() == "refuted"
    reason = parsed.get("reason")
    return refuted, reason.strip() if isinstance(reason, str) else ""
