"""The scores as a terminal table, as JSON with every trial's findings, and as a plot."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from orchestrator.eval.cases import Case
from orchestrator.eval.scoring import ConfigScore, Price, RepeatScore, Spread
from orchestrator.eval.trials import Trial


class PlotUnavailable(Exception):
    """matplotlib is not installed; the message says how to get it."""


def prices_of(provider: object) -> dict[str, Price]:
    """Prices per model from `provider.prices` ({model: {input: $, output: $}} per million
    tokens), where the configuration has that setting."""
    configured = getattr(provider, "prices", None) or {}
    prices = {}
    for model, price in dict(configured).items():
        values = price if isinstance(price, Mapping) else vars(price)
        prices[str(model)] = Price(float(values["input"]), float(values["output"]))
    return prices


def _shown(spread: Spread | None, form: Callable[[float], str]) -> str:
    """The median, and after it the range over the repeats where they differ."""
    if spread is None:
        return "-"
    if spread.low == spread.high:
        return form(spread.median)
    return f"{form(spread.median)} [dim]({form(spread.low)}-{form(spread.high)})[/dim]"


def _ratio(value: float) -> str:
    return f"{value:.2f}"


def _count(value: float) -> str:
    return f"{value:g}"


def _out_of(whole: int) -> Callable[[float], str]:
    return lambda value: f"{value:g}/{whole}"


def _tokens(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:,.0f}"


# Each figure of a repeat, by the name the table and the JSON give it.
FIGURES: dict[str, Callable[[RepeatScore], float | None]] = {
    "precision": lambda r: r.precision,
    "recall": lambda r: r.recall,
    "f1": lambda r: r.f1,
    "clean_flagged": lambda r: r.clean_flagged,
    "false_positives": lambda r: r.false_positives,
    "tokens": lambda r: r.tokens,
    "seconds": lambda r: r.seconds,
}


def table(scores: Sequence[ConfigScore]) -> Table:
    """A column per configuration, so that they read side by side; a row per figure.

    Each cell is the median over the repeats, with their range after it where they differ.
    """
    repeats = max((len(s.repeats) for s in scores), default=1)
    spread_note = f": median (min-max) of {repeats} repeats" if repeats > 1 else ""
    result = Table(title=f"deepthink eval{spread_note}", box=box.SIMPLE_HEAD)
    result.add_column("")
    for score in scores:
        result.add_column(score.config, justify="right")
    rows: list[tuple[str, Callable[[ConfigScore], str]]] = [
        ("precision", lambda s: _shown(s.spread(FIGURES["precision"]), _ratio)),
        ("recall", lambda s: _shown(s.spread(FIGURES["recall"]), _ratio)),
        ("F1", lambda s: _shown(s.spread(FIGURES["f1"]), _ratio)),
        (
            "clean files flagged",
            lambda s: _shown(s.spread(FIGURES["clean_flagged"]), _out_of(s.repeats[0].clean)),
        ),
        ("false positives", lambda s: _shown(s.spread(FIGURES["false_positives"]), _count)),
        ("tokens per run", lambda s: _shown(s.spread(FIGURES["tokens"]), _tokens)),
        ("cost per run ($)", lambda s: _shown(s.cost, lambda v: f"{v:.4f}")),
        ("seconds per case", lambda s: _shown(s.spread(FIGURES["seconds"]), lambda v: f"{v:.1f}")),
        ("trials, failed", lambda s: f"{s.trials}, {len(s.failed)}"),
    ]
    for heading, cell in rows:
        result.add_row(heading, *(cell(score) for score in scores))
    return result


def problems(scores: Sequence[ConfigScore]) -> list[str]:
    """The failed trials and missed defects, one line each, for under the table."""
    lines = []
    for score in scores:
        lines += [f"{score.config}: {case} #{n} failed: {why}" for case, n, why in score.failed]
        if score.missed:
            lines.append(f"{score.config}: missed {', '.join(score.missed)}")
    return lines


def as_json(
    scores: Sequence[ConfigScore], trials: Sequence[Trial], cases: Sequence[Case]
) -> dict[str, Any]:
    """Scores per configuration, and every trial with its raw findings."""
    wanted = {case.id for case in cases}

    def summary(score: ConfigScore) -> dict[str, Any]:
        spreads = {name: score.spread(figure) for name, figure in FIGURES.items()}

        return {
            "config": score.config,
            "trials": score.trials,
            **{name: asdict(s) if s else None for name, s in spreads.items()},
            "cost": asdict(score.cost) if score.cost else None,
            "repeats": [
                {**asdict(r), "precision": r.precision, "recall": r.recall, "f1": r.f1}
                for r in score.repeats
            ],
            "failed": [{"case": c, "repeat": n, "why": why} for c, n, why in score.failed],
            "missed": list(score.missed),
        }

    return {
        "cases": [
            {"id": case.id, "defect": asdict(case.defect) if case.defect else None}
            for case in cases
        ],
        "scores": [summary(score) for score in scores],
        "trials": [trial.to_dict() for trial in trials if trial.case in wanted],
    }


def plot(scores: Sequence[ConfigScore], path: Path) -> None:
    """F1 against cost per configuration (against tokens when prices are unknown)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: the figure only goes to a file
        from matplotlib import pyplot
    except ImportError:
        raise PlotUnavailable(
            "--plot needs matplotlib: pip install 'deepthink-lsp[plot]' (or pip install matplotlib)"
        ) from None
    priced = all(score.cost is not None for score in scores)
    figure, axes = pyplot.subplots(figsize=(6, 4))
    for score in scores:
        f1 = score.spread(FIGURES["f1"])
        x = score.cost if priced else score.spread(FIGURES["tokens"])
        if f1 is None or x is None:
            continue
        axes.errorbar(
            [x.median],
            [f1.median],
            xerr=[[x.median - x.low], [x.high - x.median]],
            yerr=[[f1.median - f1.low], [f1.high - f1.median]],
            fmt="o",
            capsize=4,
        )
        axes.annotate(
            score.config, (x.median, f1.median), textcoords="offset points", xytext=(6, 6)
        )
    axes.set_xlabel("cost per suite run ($)" if priced else "tokens per suite run")
    axes.set_ylabel("F1")
    axes.set_xlim(left=0)
    axes.set_ylim(0, 1.05)
    axes.set_title(f"deepthink eval: F1 against {'cost' if priced else 'tokens'}")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
