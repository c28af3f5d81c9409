"""A review's findings, from the agents' blocks and the synthesis' to the final list.

Each agent's findings are grounded in the file, then merged where agents agree; the
synthesis adds those of its own that no agent raised; `review.min_agreement` filters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from orchestrator.agreement import at_least, merge_agreeing, with_synthesis
from orchestrator.findings import split_findings
from orchestrator.grounding import Reader, dropped_warning, ground_findings
from orchestrator.progress import AgentState
from orchestrator.result import AgentResult, Finding


@dataclass(frozen=True)
class Reviewed:
    findings: list[Finding]
    warnings: list[str]


def with_agent_findings(answers: list[AgentResult], default_path: str) -> list[AgentResult]:
    """The answers with each one's findings block taken out of its prose into `findings`."""
    split = []
    for answer in answers:
        if answer.state is not AgentState.DONE:
            split.append(answer)
            continue
        markdown, findings, note = split_findings(answer.answer, default_path)
        error = f"findings block: {note}" if note else answer.error
        split.append(dataclasses.replace(answer, answer=markdown, findings=findings, error=error))
    return split


def final_findings(
    answers: list[AgentResult],
    synthesis: list[Finding],
    read: Reader,
    min_agreement: int,
) -> Reviewed:
    """Grounded, merged agent findings plus the synthesis' own; warnings for what was dropped."""
    done = [answer for answer in answers if answer.state is AgentState.DONE]
    dropped = 0
    per_agent: dict[int, list[Finding]] = {}
    for answer in done:
        grounded = ground_findings(answer.findings, read)
        per_agent[answer.index + 1] = grounded.findings
        dropped += grounded.dropped
    own = ground_findings(synthesis, read)
    dropped += own.dropped
    merged = with_synthesis(merge_agreeing(per_agent, len(done)), own.findings)
    kept = at_least(merged, min_agreement)
    warnings = [dropped_warning(dropped)] if dropped else []
    if left_out := len(merged) - len(kept):
        warnings.append(
            f"{left_out} finding{'s' if left_out != 1 else ''} left out: raised by fewer than "
            f"{min_agreement} agents (review.min_agreement)"
        )
    return Reviewed(kept, warnings)
