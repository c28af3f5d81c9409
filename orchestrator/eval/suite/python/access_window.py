"""Decide whether a maintenance job may run now, from its configured time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta


@dataclass(frozen=True)
class Window:
    """A daily window; one that ends before it starts runs over midnight (22:00-04:00)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Window:
        try:
            start_text, end_text = text.split("-")
            return cls(time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip()))
        except ValueError:
            raise ValueError(f"expected a window such as 22:00-04:00, got {text!r}") from None

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def contains(self, moment: time) -> bool:
        if self.crosses_midnight:
            return self.start <= moment and moment < self.end
        return self.start <= moment < self.end


def may_run(window_text: str, now: datetime | None = None) -> bool:
    now = now or datetime.now()
    return Window.parse(window_text).contains(now.time())


def next_start(window_text: str, now: datetime) -> datetime:
    """When the window next opens (now, if it is open)."""
    window = Window.parse(window_text)
    if window.contains(now.time()):
        return now
    candidate = now.replace(
        hour=window.start.hour, minute=window.start.minute, second=0, microsecond=0
    )
    if candidate < now:
        candidate += timedelta(days=1)
    return candidate
