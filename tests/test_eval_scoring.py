"""Scoring of eval trials, against figures worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.eval.cases import Case, Defect
from orchestrator.eval.scoring import Price, RepeatScore, Spread, matches, score
from orchestrator.eval.trials import (
    ModelUsage,
    ResultsFileError,
    Trial,
    append_result,
    read_results,
)
from orchestrator.result import Finding, Severity

CASES = [
    Case("a.py", "", Defect(10, 12, "off-by-one", "")),
    Case("b.go", "", Defect(5, 5, "race", "")),
    Case("c.ts", "", Defect(20, 20, "null", "")),
    Case("clean1.py", "", None),
    Case("clean2.rs", "", None),
]
USAGE = (ModelUsage("m", 1000, 200),)


def found(path: str, start: int, end: int | None = None) -> Finding:
    return Finding(path, start, end or start, Severity.WARNING, "something")


def trial(
    case: str,
    repeat: int,
    *findings: Finding,
    status: str = "done",
    seconds: float = 2.0,
    usage: tuple[ModelUsage, ...] = USAGE,
    failures: tuple[str, ...] = (),
) -> Trial:
    return Trial("heavy", case, repeat, status, findings, usage, seconds, failures, "m", 4)


TRIALS = [
    # Repeat 1: a.py found (line 8 is 2 before the range) plus one stray finding; b.go's
    # finding is 3 lines off (a miss and a false positive); c.ts failed; clean1 flagged.
    trial("a.py", 1, found("a.py", 8), found("a.py", 30), seconds=1.0),
    trial("b.go", 1, found("b.go", 8, 9), seconds=2.0),
    trial("c.ts", 1, status="failed", seconds=3.0, failures=("agent 1: timed out",)),
    trial("clean1.py", 1, found("clean1.py", 3), seconds=4.0),
    trial("clean2.rs", 1, seconds=5.0),
    # Repeat 2: a.py found twice (counts once), b.go found, c.ts's finding names another
    # file (a false positive), the clean files untouched; one call to a second model.
    trial("a.py", 2, found("a.py", 14), found("./a.py", 13)),
    trial("b.go", 2, found("b.go", 3)),
    trial("c.ts", 2, found("other/c.ts", 20)),
    trial("clean1.py", 2),
    trial("clean2.rs", 2, usage=(*USAGE, ModelUsage("n", 100, 50))),
]


def test_a_finding_matches_within_two_lines_of_the_defect_on_the_same_file() -> None:
    case = CASES[0]  # lines 10-12
    assert matches(found("a.py", 8), case) and matches(found("a.py", 14), case)
    assert not matches(found("a.py", 7), case) and not matches(found("a.py", 15), case)
    assert matches(found("a.py", 1, 50), case)  # a range around the defect overlaps it
    assert not matches(found("b.go", 11), case)
    assert not matches(found("clean1.py", 1), CASES[3])  # a clean file has nothing to match


def test_precision_recall_and_f1_per_repeat() -> None:
    [heavy] = score(TRIALS, CASES)

    first, second = heavy.repeats
    assert (first.detected, first.defects, first.false_positives) == (1, 3, 3)
    assert first.precision == pytest.approx(1 / 4)
    assert first.recall == pytest.approx(1 / 3)
    assert first.f1 == pytest.approx(2 / 7)
    assert (first.clean_flagged, first.clean) == (1, 2)
    assert (second.detected, second.false_positives, second.clean_flagged) == (2, 1, 0)
    assert second.precision == pytest.approx(2 / 3)
    assert second.recall == pytest.approx(2 / 3)
    assert second.f1 == pytest.approx(2 / 3)


def test_the_spread_over_repeats_is_min_median_max() -> None:
    [heavy] = score(TRIALS, CASES)

    f1 = heavy.spread(lambda r: r.f1)
    assert f1 is not None
    assert (f1.low, f1.median, f1.high) == pytest.approx((2 / 7, 10 / 21, 2 / 3))
    assert heavy.spread(lambda r: r.tokens) == Spread(6000, 6075, 6150)
    assert heavy.spread(lambda r: r.seconds) == Spread(2.0, 2.5, 3.0)  # mean per case
    assert heavy.trials == 10


def test_failed_trials_are_misses_and_listed() -> None:
    [heavy] = score(TRIALS, CASES)

    assert heavy.failed == (("c.ts", 1, "agent 1: timed out"),)
    assert heavy.missed == ("b.go", "c.ts")


def test_money_needs_a_price_for_every_model_used() -> None:
    [unpriced] = score(TRIALS, CASES, {"m": Price(2.0, 8.0)})
    assert unpriced.repeats[0].cost == pytest.approx(5 * 0.0036)  # (1000*2 + 200*8) / 1e6
    assert unpriced.repeats[1].cost is None  # model n has no price
    assert unpriced.cost is None

    [priced] = score(TRIALS, CASES, {"m": Price(2.0, 8.0), "n": Price(1.0, 1.0)})
    assert priced.cost is not None
    cost = priced.cost
    assert (cost.low, cost.median, cost.high) == pytest.approx((0.018, 0.018075, 0.01815))
    assert score(TRIALS, CASES)[0].cost is None  # no prices at all


def test_undefined_figures_stay_undefined() -> None:
    nothing_found = RepeatScore(0, 2, 0, 0, 1, 0, None, 1.0)
    assert nothing_found.precision is None
    assert nothing_found.recall == 0 and nothing_found.f1 == 0
    only_clean = RepeatScore(0, 0, 0, 0, 2, 0, None, 1.0)
    assert only_clean.recall is None and only_clean.f1 is None


def test_configurations_are_scored_apart_and_other_cases_ignored() -> None:
    single = Trial("single", "a.py", 1, "done", (found("a.py", 11),), USAGE, 1.0)
    elsewhere = Trial("single", "gone.py", 1, "done", (found("gone.py", 1),), USAGE, 1.0)

    scores = score([*TRIALS, single, elsewhere], CASES)

    assert [s.config for s in scores] == ["heavy", "single"]
    assert scores[1].repeats[0].precision == 1.0 and scores[1].trials == 1


def test_trials_round_trip_through_the_results_file(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    for each in TRIALS[:3]:
        append_result(results, each)
    with results.open("a") as handle:
        handle.write('{"config": "heavy", "ca')  # killed while writing the last line

    assert read_results(results) == TRIALS[:3]
    assert read_results(tmp_path / "none.jsonl") == []


def test_a_results_file_of_something_else_is_refused(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"hello": 1}) + "\n" + json.dumps(TRIALS[0].to_dict()) + "\n")

    with pytest.raises(ResultsFileError, match="line 1 is not a trial of deepthink eval"):
        read_results(results)
