"""How eval scores are shown: the terminal table, the lines under it, and prices."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from orchestrator.config import ProviderConfig
from orchestrator.eval.report import prices_of, problems, table
from orchestrator.eval.scoring import Price, score
from tests.test_eval_scoring import CASES, TRIALS


def rendered(width: int = 80) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table(score(TRIALS, CASES, {"m": Price(2.0, 8.0), "n": Price(1.0, 1.0)})))
    return console.export_text().splitlines()


def test_the_table_has_a_column_per_configuration_and_a_row_per_figure() -> None:
    lines = rendered()

    assert all(len(line) <= 80 for line in lines)
    assert lines[0].strip() == "deepthink eval: median (min-max) of 2 repeats"
    cells = {line.split("  ")[1].strip(): line[24:].strip() for line in lines[4:-1]}
    assert cells == {
        # medians of 1/4 and 2/3, 1/3 and 2/3, 2/7 and 2/3 (test_eval_scoring.py)
        "precision": "0.46 (0.25-0.67)",
        "recall": "0.50 (0.33-0.67)",
        "F1": "0.48 (0.29-0.67)",
        "clean files flagged": "0.5/2 (0/2-1/2)",
        "false positives": "2 (1-3)",
        "tokens per run": "6,075 (6,000-6,150)",
        "cost per run ($)": "0.0181 (0.0180-0.0181)",
        "seconds per case": "2.5 (2.0-3.0)",
        "trials, failed": "10, 1",
    }


def test_failures_and_misses_are_listed_under_the_table() -> None:
    assert problems(score(TRIALS, CASES)) == [
        "heavy: c.ts #1 failed: agent 1: timed out",
        "heavy: missed b.go, c.ts",
    ]


def test_prices_come_from_provider_prices_where_the_setting_exists() -> None:
    assert prices_of(ProviderConfig()) == {}
    provider = SimpleNamespace(prices={"gpt-4o": {"input": 2.5, "output": 10}})
    assert prices_of(provider) == {"gpt-4o": Price(2.5, 10.0)}
