"""In-process counters that request handler threads update and a reporter thread reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = {}
        self._started = time.monotonic()

    def increment(self, name: str, by: int = 1) -> None:
        if name not in self._values:
            self._values[name] = 0
        self._values[name] += by

    def get(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot_and_reset(self) -> dict[str, int]:
        with self._lock:
            values, self._values = self._values, {}
            return values

    def uptime(self) -> float:
        return time.monotonic() - self._started


class Reporter(threading.Thread):
    """Every `interval` seconds, hands the counters collected since the last time to `sink`."""

    def __init__(
        self, counters: Counters, sink: Callable[[dict[str, int]], None], interval: float = 10.0
    ) -> None:
        super().__init__(name="metrics-reporter", daemon=True)
        self._counters = counters
        self._sink = sink
        self._interval = interval
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sink(self._counters.snapshot_and_reset())

    def stop(self) -> None:
        self._stop.set()
        self._sink(self._counters.snapshot_and_reset())
