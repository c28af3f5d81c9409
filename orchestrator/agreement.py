"""Agreement between agents: findings about the same code and the same problem, merged.

Deterministic and model-free. Two findings agree when they are in the same file, their
line ranges overlap, and their messages are alike: the same words (cut to their first
letters, so that 'divides' meets 'division') or, failing that, much the same text.
"""

from __future__ import annotations

import dataclasses
import re
from difflib import SequenceMatcher

from orchestrator.result import SEVERITY_RANK, Finding, View

SHARED_WORDS = 0.3  # token Jaccard from which two messages say the same thing
SAME_TEXT = 0.6  # difflib ratio from which they do, whatever their words
_STEM = 4  # letters of a word that count: 'divides', 'division' and 'divide' all agree
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "this",
        "that",
        "with",
        "when",
        "can",
        "not",
        "are",
        "was",
        "has",
        "its",
        "into",
        "from",
    ]
)


def merge_agreeing(per_agent: dict[int, list[Finding]], of_agents: int) -> list[Finding]:
    """Every agent's findings (keyed by 1-based agent number), merged where they agree.

    The first agent to raise a finding gives its message and place; the most severe
    severity among those who raised it wins. Each merged finding lists its agents.
    """
    merged: list[Finding] = []
    for agent in sorted(per_agent):
        for finding in per_agent[agent]:
            index = next((i for i, seen in enumerate(merged) if agree(seen, finding)), None)
            view = View(agent, finding.message)
            if index is None:
                merged.append(
                    dataclasses.replace(
                        finding, agents=(agent,), of_agents=of_agents, views=(view,)
                    )
                )
                continue
            seen = merged[index]
            merged[index] = dataclasses.replace(
                seen,
                agents=tuple(sorted({*seen.agents, agent})),
                severity=min(seen.severity, finding.severity, key=SEVERITY_RANK.__getitem__),
                views=seen.views if agent in seen.agents else (*seen.views, view),
            )
    return merged


def with_synthesis(merged: list[Finding], synthesis: list[Finding]) -> list[Finding]:
    """The agents' merged findings, then those of the synthesis that none of them raised.

    The synthesis read every answer, so a finding of its own is one the agents' structured
    blocks missed (a weak model's prose, a point only the comparison shows): worth keeping.
    """
    own = [finding for finding in synthesis if not any(agree(m, finding) for m in merged)]
    return [*merged, *own]


def at_least(findings: list[Finding], min_agreement: int) -> list[Finding]:
    """Findings raised by `min_agreement` agents or more; the synthesis' own count as one."""
    return [f for f in findings if max(1, len(f.agents)) >= min_agreement]


def agree(a: Finding, b: Finding) -> bool:
    if a.path != b.path or a.end_line < b.start_line or b.end_line < a.start_line:
        return False
    return alike(a.message, b.message)


def alike(a: str, b: str) -> bool:
    words_a, words_b = _stems(a), _stems(b)
    if words_a & words_b and len(words_a & words_b) / len(words_a | words_b) >= SHARED_WORDS:
        return True
    return SequenceMatcher(None, a.lower(), b.lower()).ratio() >= SAME_TEXT


def _stems(text: str) -> set[str]:
    words = (word.lower() for word in _WORD.findall(text))
    return {word[:_STEM] for word in words if len(word) > 2 and word not in _STOP}
