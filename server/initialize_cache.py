"""`initialize` results kept between starts, so the next start can answer before pygls loads.

pygls builds the result from the client's capabilities and the server's registered features
alone (pygls 2.1.1, protocol/language_server.py, `lsp_initialize`): the same capabilities,
pygls, lsprotocol and server code give the same result. `initializationOptions` only reach
our settings, never the result, and are not stored.

Imported before pygls on every stdio start: it must stay light.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import platformdirs

import server

_log = logging.getLogger(__name__)

KEPT = 32  # results kept: one per client and server build; older ones are deleted
_SERVER_SOURCES = Path(server.__file__).parent


def build_identity() -> dict[str, Any]:
    """Everything on the server's side that shapes the result.

    The source files are fingerprinted by name, size and modification time (not read):
    an edit in a checkout must never be answered with the capabilities of the code before it.
    """
    with os.scandir(_SERVER_SOURCES) as entries:
        sources = sorted(
            (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)  # stat() is cached
            for entry in entries
            if entry.name.endswith(".py")
        )
    return {
        "pygls": _version("pygls"),
        "lsprotocol": _version("lsprotocol"),
        "deepthink-lsp": server.__version__,
        "sources": sources,
    }


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:  # importable without its metadata, e.g. copied into a bundle
        return None


def cache_file(capabilities: object, build: dict[str, Any]) -> Path:
    """Where the result for this client's capabilities and this server build is kept."""
    material = json.dumps(
        {"capabilities": capabilities, "build": build}, sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(material.encode()).hexdigest()[:32]
    return Path(platformdirs.user_cache_dir("deepthink")) / "initialize" / f"{digest}.json"


def load(path: Path) -> dict[str, Any] | None:
    """The kept result, or None when there is none or it cannot be read: start as if new."""
    try:
        result = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


def store(path: Path, result: dict[str, Any]) -> None:
    """Keep `result` (written whole or not at all), then forget all but the newest `KEPT`."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(result), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        _log.warning("could not keep the initialize result in %s: %s", path.parent, error)
        with contextlib.suppress(OSError):  # neither it nor its directory may exist
            temporary.unlink()
        return
    # Another server may be pruning at the same time: what is left is pruned next time.
    with contextlib.suppress(OSError):
        kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-KEPT]:
            old.unlink(missing_ok=True)


@dataclass
class FirstInitialize:
    """The client's first `initialize` request, perhaps answered from the cache already."""

    msg_id: int | str
    cache_file: Path
    answered: dict[str, Any] | None  # the cached result the client has, None: not answered

    def settle(self, computed: dict[str, Any] | None) -> None:
        """Check pygls' own result (None: pygls failed) against the answer, and keep it."""
        if computed is None:
            if self.answered is not None:
                # The client has a success it should not have: the next start must not repeat it.
                _log.error("initialize failed after it was answered from %s", self.cache_file)
                self.cache_file.unlink(missing_ok=True)
        elif computed != self.answered:
            if self.answered is not None:
                _log.warning(
                    "the initialize result kept in %s was stale; replaced with the current one",
                    self.cache_file,
                )
            store(self.cache_file, computed)
