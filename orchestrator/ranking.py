"""Peer ranking (council.rank): each agent's model ranks the other answers, blind.

The answers are shown as 'Response A, B, ...' without role, model or agent number, in an
order shuffled per ranker, so that no model can favour its own kind or the first answer.
The aggregate (average place, best first) goes to the synthesis and into the result.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import json_repair

from orchestrator import prompts
from orchestrator.cancel import CancelToken
from orchestrator.context import fit_budget
from orchestrator.llm import LLMClient, LLMError, RunShare
from orchestrator.request import Request
from orchestrator.result import AgentResult, CallUsage, Rank, recorder

_ANSWER_TOKENS = 1500  # of each answer shown to a ranker


@dataclass(frozen=True)
class Ranking:
    ranks: list[Rank]  # best first
    failures: list[str]


@dataclass(frozen=True)
class Ranker:
    llm: LLMClient
    model_of: Callable[[int], str]  # the model of the agent with this index
    max_tokens: int
    workers: int
    share: RunShare

    def rank(
        self,
        request: Request,
        answers: list[AgentResult],
        cancel: CancelToken,
        calls: list[CallUsage],
    ) -> Ranking:
        """Every answer's average place among the others' rankings; raises Cancelled (or
        DeadlineExceeded) when `cancel` fires. Needs three answers or more: with two, each
        ranker would only have one other to place."""
        shared = prompts.shared_context(request)
        own_calls: list[list[CallUsage]] = [[] for _ in answers]
        with ThreadPoolExecutor(max(1, self.workers), "deepthink-rank") as pool:
            runs = [
                pool.submit(self._ballot, ranker, answers, shared, cancel, own_calls[n])
                for n, ranker in enumerate(answers)
            ]
            ballots: list[list[int]] = []
            failed: list[str] = []
            try:
                for run in runs:
                    try:
                        ballots.append(run.result())
                    except LLMError as error:
                        failed.append(str(error))
            finally:
                calls += [call for own in own_calls for call in own]
        failures = [f"ranking failed for {len(failed)} ranker(s): {failed[0]}"] if failed else []
        return Ranking(aggregate(ballots), failures)

    def _ballot(
        self,
        ranker: AgentResult,
        answers: list[AgentResult],
        shared: str,
        cancel: CancelToken,
        calls: list[CallUsage],
    ) -> list[int]:
        """The agent numbers (1-based) of the others' answers, best first, by this ranker."""
        cancel.raise_if_cancelled()
        others = [answer for answer in answers if answer.index != ranker.index]
        # Seeded by the ranker, so that a run can be repeated; different for each ranker.
        random.Random(ranker.index).shuffle(others)
        letters = [_letter(n) for n in range(len(others))]
        shown = "\n\n".join(
            f"## Response {letter}\n{fit_budget(answer.answer.strip(), _ANSWER_TOKENS)}"
            for letter, answer in zip(letters, others, strict=True)
        )
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.RANK_SYSTEM.format(count=len(others))},
            {"role": "user", "content": shared},
            {"role": "user", "content": shown},
        ]
        model = self.model_of(ranker.index)

        completion = self.llm.complete(
            model=model,
            messages=messages,
            cancel=cancel,
            max_tokens=self.max_tokens,
            json_object=True,
            on_attempt=recorder(calls, f"rank {ranker.index + 1}", model),
            share=self.share,
        )
        by_letter = dict(zip(letters, (answer.index + 1 for answer in others), strict=True))
        return ballot(completion.content, by_letter)


def ballot(text: str, by_letter: dict[str, int]) -> list[int]:
    """The agents a ranker's reply places, best first; unknown and repeated letters skipped."""
    start = text.find("{")
    parsed = json_repair.loads(text[start:]) if start >= 0 else None
    order = parsed.get("ranking") if isinstance(parsed, dict) else None
    placed: list[int] = []
    for item in order if isinstance(order, list) else []:
        letter = str(item).strip().upper().removeprefix("RESPONSE ").strip()
        agent = by_letter.get(letter)
        if agent is not None and agent not in placed:
            placed.append(agent)
    return placed


def aggregate(ballots: list[list[int]]) -> list[Rank]:
    """Each agent's average place (1 = best) over the ballots that placed it, best first."""
    places: dict[int, list[int]] = {}
    for placed in ballots:
        for place, agent in enumerate(placed, 1):
            places.setdefault(agent, []).append(place)
    ranks = [Rank(agent, sum(p) / len(p), len(p)) for agent, p in places.items()]
    return sorted(ranks, key=lambda rank: (rank.average_place, rank.agent))


def for_synthesis(ranks: list[Rank]) -> str:
    """The aggregate as the synthesis reads it, naming agents as its answer headings do."""
    lines = [
        f"{n}. Agent {rank.agent} (average place {rank.average_place:.1f} "
        f"over {rank.votes} ranking{'s' if rank.votes != 1 else ''})"
        for n, rank in enumerate(ranks, 1)
    ]
    return prompts.RANKING_FOR_SYNTHESIS + "\n".join(lines) if lines else ""


def _letter(n: int) -> str:
    """A, B, ..., Z, then A1, B1, ...: a label for each of up to 64 answers."""
    return string.ascii_uppercase[n % 26] + (str(n // 26) if n >= 26 else "")
