"""Scores of review trials against the seeded defects: pure functions of the trials.

A finding matches a seeded defect when it is on the case's file and its lines come within
MATCH_SLACK lines of the expected ones. Per repeat of a configuration:

- a defect case is *detected* when at least one finding matches its defect (more findings
  about the same defect neither add nor cost anything);
- every finding that matches no defect is a *false positive*, on clean files and defect
  files alike;
- precision = detected / (detected + false positives), recall = detected / defect cases,
  F1 their harmonic mean. A failed trial has no findings: its defect counts as missed.

Each figure is then summarised over the repeats as min, median and max.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.eval.cases import Case
from orchestrator.eval.trials import Trial
from orchestrator.result import Finding

MATCH_SLACK = 2  # lines a finding may be off and still be about the defect


@dataclass(frozen=True)
class Price:
    """Money per million tokens, of the prompt and of the completion."""

    input: float
    output: float


@dataclass(frozen=True)
class Spread:
    low: float
    median: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        ordered = sorted(values)
        return cls(ordered[0], statistics.median(ordered), ordered[-1])


@dataclass(frozen=True)
class RepeatScore:
    """One repeat of one configuration over the suite."""

    detected: int
    defects: int
    false_positives: int
    clean_flagged: int  # clean files with at least one finding
    clean: int
    tokens: int
    cost: float | None  # None when a model used has no price
    seconds: float  # mean per case

    @property
    def precision(self) -> float | None:
        flagged = self.detected + self.false_positives
        return self.detected / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.defects if self.defects else None

    @property
    def f1(self) -> float | None:
        # 2PR / (P + R), written so that it is defined whenever either is.
        denominator = 2 * self.detected + self.false_positives + (self.defects - self.detected)
        return 2 * self.detected / denominator if denominator else None


@dataclass(frozen=True)
class ConfigScore:
    config: str
    repeats: tuple[RepeatScore, ...]
    trials: int
    failed: tuple[tuple[str, int, str], ...]  # (case, repeat, why)
    missed: tuple[str, ...]  # defect cases missed in at least one repeat

    def spread(self, figure: Callable[[RepeatScore], float | None]) -> Spread | None:
        """min/median/max of a figure over the repeats where it is defined; None if in none."""
        values = [value for repeat in self.repeats if (value := figure(repeat)) is not None]
        return Spread.of(values) if values else None

    @property
    def cost(self) -> Spread | None:
        """Money per repeat; unknown if any repeat used a model without a price."""
        costs = [repeat.cost for repeat in self.repeats]
        return None if None in costs else Spread.of(c for c in costs if c is not None)


def matches(finding: Finding, case: Case) -> bool:
    defect = case.defect
    if defect is None or _normal(finding.path) != case.id:
        return False
    return (
        finding.start_line <= defect.end_line + MATCH_SLACK
        and finding.end_line >= defect.start_line - MATCH_SLACK
    )


def _normal(path: str) -> str:
    return path.replace("\\", "/").removeprefix("./")


def trial_cost(trial: Trial, prices: Mapping[str, Price]) -> float | None:
    total = 0.0
    for usage in trial.usage:
        price = prices.get(usage.model)
        if price is None:
            return None
        total += (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6
    return total


def score_repeat(
    trials: Sequence[Trial], cases: Mapping[str, Case], prices: Mapping[str, Price]
) -> RepeatScore:
    detected = false_positives = clean_flagged = 0
    costs = []
    for trial in trials:
        case = cases[trial.case]
        matching = [f for f in trial.findings if matches(f, case)]
        detected += bool(matching)
        false_positives += len(trial.findings) - len(matching)
        clean_flagged += case.clean and bool(trial.findings)
        costs.append(trial_cost(trial, prices))
    return RepeatScore(
        detected=detected,
        defects=sum(not cases[t.case].clean for t in trials),
        false_positives=false_positives,
        clean_flagged=clean_flagged,
        clean=sum(cases[t.case].clean for t in trials),
        tokens=sum(t.tokens for t in trials),
        cost=None if None in costs else sum(c for c in costs if c is not None),
        seconds=statistics.fmean(t.seconds for t in trials),
    )


def score(
    trials: Iterable[Trial], cases: Sequence[Case], prices: Mapping[str, Price] | None = None
) -> list[ConfigScore]:
    """One score per configuration, in the order the configurations first appear.

    Only trials of the given cases count, so a results file may hold more than this run asks.
    """
    by_id = {case.id: case for case in cases}
    groups: dict[str, dict[int, list[Trial]]] = {}
    for trial in trials:
        if trial.case in by_id:
            groups.setdefault(trial.config, {}).setdefault(trial.repeat, []).append(trial)
    scores = []
    for config, repeats in groups.items():
        every = [t for repeat in repeats.values() for t in repeat]
        missed = {
            t.case for t in every if not by_id[t.case].clean and not _detects(t, by_id[t.case])
        }
        scores.append(
            ConfigScore(
                config=config,
                repeats=tuple(
                    score_repeat(repeats[r], by_id, prices or {}) for r in sorted(repeats)
                ),
                trials=len(every),
                failed=tuple(
                    (t.case, t.repeat, "; ".join(t.failures) or "failed")
                    for t in sorted(every, key=lambda t: (t.case, t.repeat))
                    if t.failed
                ),
                missed=tuple(sorted(missed)),
            )
        )
    return scores


def _detects(trial: Trial, case: Case) -> bool:
    return any(matches(f, case) for f in trial.findings)
