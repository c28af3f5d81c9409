"""Serialise audit events with Unix timestamps for the export API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str
    target: str
    at: float  # seconds since the epoch, UTC


def now_timestamp() -> float:
    """Seconds since the epoch for the current moment."""
    return datetime.utcnow().timestamp()


def record(actor: str, action: str, target: str) -> AuditEvent:
    return AuditEvent(actor=actor, action=action, target=target, at=now_timestamp())


def to_json(event: AuditEvent) -> str:
    payload: dict[str, Any] = {
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "at": datetime.fromtimestamp(event.at, tz=timezone.utc).isoformat(),
    }
    return json.dumps(payload, sort_keys=True)


def from_json(text: str) -> AuditEvent:
    payload = json.loads(text)
    moment = datetime.fromisoformat(payload["at"])
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {payload['at']!r}")
    return AuditEvent(payload["actor"], payload["action"], payload["target"], moment.timestamp())


def events_between(events: list[AuditEvent], start: float, end: float) -> list[AuditEvent]:
    """The events in [start, end), oldest first."""
    return sorted((e for e in events if start <= e.at < end), key=lambda e: e.at)
