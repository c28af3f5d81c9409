"""What a run cost, phase by phase: tokens in and out, and money when prices are known."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.config import Price
from orchestrator.llm import Usage
from orchestrator.result import CallUsage, PhaseCost

# Each request's label starts with its phase's word ('agent 2 step 3'); in the order they run.
_PHASES = {"decompose": "plan", "agent": "agents", "synthesis": "synthesis"}


def phase_of(call: CallUsage) -> str:
    word = call.label.split(" ", 1)[0]
    return _PHASES.get(word, word)


def phase_costs(calls: list[CallUsage], prices: Mapping[str, Price]) -> list[PhaseCost]:
    """Tokens per phase, in the order the phases ran, and money when every model is priced."""
    usage: dict[str, Usage] = {}
    money: dict[str, float | None] = {}
    for call in calls:
        phase = phase_of(call)
        usage[phase] = usage.get(phase, Usage()) + call.usage
        price = prices.get(call.model)
        before = money.get(phase, 0.0)
        # One model without a price makes the phase's money unknown, not smaller.
        money[phase] = None if price is None or before is None else before + _money(call, price)
    return [PhaseCost(phase, usage[phase], money[phase]) for phase in usage]


def _money(call: CallUsage, price: Price) -> float:
    usage = call.usage
    return (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6


def cost_line(phases: list[PhaseCost]) -> str:
    """e.g. 'tokens in/out: plan 310/42, agents 9.8k/2.1k, synthesis 3.0k/512; $0.0042'."""
    parts = [
        f"{p.phase} {count(p.usage.prompt_tokens)}/{count(p.usage.completion_tokens)}"
        for p in phases
    ]
    text = f"tokens in/out: {', '.join(parts)}" if parts else "no tokens"
    money = [p.money for p in phases]
    if money and None not in money:
        text += f"; ${sum(m or 0.0 for m in money):.4f}"
    return text


def count(number: int) -> str:
    """A token count short enough for a statusline: 850, 1.2k, 2.5M."""
    if number < 1000:
        return str(number)
    if number < 1_000_000:
        return f"{number / 1000:.1f}k"
    return f"{number / 1_000_000:.1f}M"
