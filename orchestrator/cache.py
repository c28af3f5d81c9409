"""Finished results in SQLite, so that asking the same thing twice is answered at once.

Each result is written in one transaction (WAL journal), so a crash mid-write
loses at most that result, never one stored before. Keys hash the request, the
workspace and every setting that shapes the answer; API keys are not part of the
config, so they can never reach the cache. A result also records what its agents'
tools returned (`ToolRead`), which the engine checks before reusing it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
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


def cache_key(request: Request, config: Config, workspace: Path) -> str:
    material = {
        "request": dataclasses.asdict(request),
        # The same code in another repository is another question: the agents read around it.
        "workspace": str(workspace),
        # Everything that changes the answer: endpoint, models, agents, tools, budgets.
        "config": config.model_dump(mode="json", exclude={"cache", "trust"}),
    }
    encoded = json.dumps(material, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


class CacheError(Exception):
    """The cache could not be read or written: the run goes on without it, with a warning."""


# The database is not ours to read (not SQLite, or damaged): only deleting it helps.
_UNREADABLE = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}


def is_unreadable(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorname", "") in _UNREADABLE


def remove_database(path: Path) -> None:
    """Delete a cache database that cannot be opened, with its journal files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class ResultCache:
    """Opening raises sqlite3.Error or OSError; reading and writing raise CacheError."""

    def __init__(self, path: Path | None = None, busy_timeout: float = 5.0) -> None:
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Another process writing holds the lock for milliseconds; past `busy_timeout` the
        # write is given up (with a warning), never the result.
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> RunResult | None:
        with self._lock, self._failing_as_cache_error("read"):
            row = self._db.execute("SELECT result FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return dataclasses.replace(_RESULT.validate_json(row[0]), cached=True)
        except ValueError:
            return None  # written by an incompatible version: recompute rather than fail

    def put(self, key: str, result: RunResult) -> None:
        stored = _RESULT.dump_json(dataclasses.replace(result, cached=False)).decode()
        with self._lock, self._failing_as_cache_error("store the result in"):
            self._db.execute(
                "INSERT OR REPLACE INTO results (key, created, result) VALUES (?, ?, ?)",
                (key, time.time(), stored),
            )

    def clear(self) -> int:
        """Forget every stored result; returns how many there were.

        The table is made anew, so that one of another shape (another program's, or an
        older version's) is replaced too.
        """
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM results").fetchone()
            self._db.execute("DROP TABLE results")
            self._db.execute(_SCHEMA)
            return int(count)

    @contextlib.contextmanager
    def _failing_as_cache_error(self, action: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as error:
            raise CacheError(f"could not {action} the result cache {self.path}: {error}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
