"""Tag support tickets from their subject and body, for routing to the right queue."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RULES: dict[str, re.Pattern[str]] = {
    "billing": re.compile(r"\b(invoice|refund|charge[ds]?|billing)\b", re.IGNORECASE),
    "login": re.compile(r"\b(password|log ?in|2fa|locked out)\b", re.IGNORECASE),
    "outage": re.compile(r"\b(down|outage|5\d\d|unreachable)\b", re.IGNORECASE),
}


@dataclass
class Ticket:
    subject: str
    body: str
    tags: list[str] = field(default_factory=list)


def matching_tags(text: str) -> list[str]:
    return [name for name, pattern in RULES.items() if pattern.search(text)]


def add_tags(ticket: Ticket, extra: list[str] = []) -> Ticket:
    """Tag a ticket from its text, plus any `extra` tags the agent chose."""
    found = matching_tags(f"{ticket.subject}\n{ticket.body}")
    extra.extend(tag for tag in found if tag not in extra)
    ticket.tags = sorted(set(ticket.tags) | set(extra))
    return ticket


def route(ticket: Ticket) -> str:
    """The queue a tagged ticket goes to; outages come first."""
    if "outage" in ticket.tags:
        return "on-call"
    if "billing" in ticket.tags:
        return "finance"
    if "login" in ticket.tags:
        return "identity"
    return "general"


def triage(tickets: list[Ticket]) -> dict[str, list[Ticket]]:
    queues: dict[str, list[Ticket]] = {}
    for ticket in tickets:
        queues.setdefault(route(add_tags(ticket)), []).append(ticket)
    return queues
