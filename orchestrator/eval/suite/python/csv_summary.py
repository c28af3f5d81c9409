"""Summarise a CSV export of orders: totals per customer and per month."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path


@dataclass(frozen=True)
class Summary:
    per_customer: dict[str, Decimal]
    per_month: dict[str, Decimal]
    skipped_rows: list[int]


def summarise(path: Path) -> Summary:
    """Read `path` (columns: customer, date, amount); rows that cannot be read are listed."""
    per_customer: defaultdict[str, Decimal] = defaultdict(Decimal)
    per_month: defaultdict[str, Decimal] = defaultdict(Decimal)
    skipped: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        # Line 1 is the header, so the first data row is line 2.
        for line_number, row in enumerate(reader, start=2):
            try:
                customer = row["customer"].strip()
                when = date.fromisoformat(row["date"].strip())
                amount = Decimal(row["amount"].strip())
            except (KeyError, AttributeError, ValueError, InvalidOperation):
                skipped.append(line_number)
                continue
            if not customer:
                skipped.append(line_number)
                continue
            per_customer[customer] += amount
            per_month[f"{when.year:04d}-{when.month:02d}"] += amount
    return Summary(dict(per_customer), dict(sorted(per_month.items())), skipped)


def top_customers(summary: Summary, count: int = 5) -> list[tuple[str, Decimal]]:
    ranked = sorted(summary.per_customer.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:count]
