"""Finished results in SQLite, so that asking the same thing twice is answered at once.

Each result is written in one transaction (WAL journal), so a crash mid-write
loses at most that result, never one stored before. Keys hash the request and
every setting that shapes the answer; API keys are not part of the config, so
they can never reach the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

import platformdirs
from pydantic import TypeAdapter

from orchestrator.config import Config
from orchestrator.request import Request
from orchestrator.result import RunResult

_RESULT = TypeAdapter(RunResult)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    result TEXT NOT NULL
)
"""


def default_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("deepthink")) / "results.sqlite3"


def cache_key(request: Request, config: Config) -> str:
    material = {
        "request": dataclasses.asdict(request),
        # Everything that changes the answer: endpoint, models, agents, tools, budgets.
        "config": config.model_dump(mode="json", exclude={"cache", "trust"}),
    }
    encoded = json.dumps(material, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


class ResultCache:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> RunResult | None:
        with self._lock:
            row = self._db.execute("SELECT result FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return dataclasses.replace(_RESULT.validate_json(row[0]), cached=True)
        except ValueError:
            return None  # written by an incompatible version: recompute rather than fail

    def put(self, key: str, result: RunResult) -> None:
        stored = _RESULT.dump_json(dataclasses.replace(result, cached=False)).decode()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO results (key, created, result) VALUES (?, ?, ?)",
                (key, time.time(), stored),
            )

    def clear(self) -> int:
        """Forget every stored result; returns how many there were."""
        with self._lock:
            return self._db.execute("DELETE FROM results").rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
