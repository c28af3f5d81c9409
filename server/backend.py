"""The current settings and the LLM client built from them, shared by every job.

Settings change while jobs run: a job keeps the client it started with, and a client
that is no longer current is closed once its last job has finished.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass

from orchestrator.cache import ResultCache
from orchestrator.config import Config, MissingApiKey, ProviderConfig, api_key_to_send
from orchestrator.llm import LLMClient
from server.settings import Settings

_log = logging.getLogger(__name__)


class CannotRun(Exception):
    """A job cannot start or go on; the message tells the user what to do."""


class NothingToDo(CannotRun):
    """There is nothing to work on (an empty diff): worth a notice, not an error."""


@dataclass(frozen=True)
class Resources:
    """What one job runs with."""

    config: Config
    llm: LLMClient
    cache: ResultCache | None


class Backend:
    def __init__(self) -> None:
        self.settings: Settings | None = None
        self._error = "the server has not been initialized"
        self._current: tuple[tuple[ProviderConfig, str], LLMClient] | None = None
        self._users: Counter[LLMClient] = Counter()
        self._cache: ResultCache | None = None
        self._cache_failed = False

    def configure(self, settings: Settings) -> None:
        self.settings, self._error = settings, ""

    def fail(self, error: str) -> None:
        """Invalid settings: refuse to run until they are fixed."""
        self._error = error

    def acquire(self) -> Resources:
        """What a new job runs with; `release` it when the job is over."""
        if self._error or self.settings is None:
            raise CannotRun(f"deepthink settings: {self._error}")
        config = self.settings.config
        llm = self._client(config)
        self._users[llm] += 1
        return Resources(config, llm, self._open_cache() if config.cache.enabled else None)

    def warm_up(self) -> None:
        """Make the current client ready in the background, if a job could run now."""
        if self._error or self.settings is None:
            return
        with contextlib.suppress(CannotRun):  # no key: the first job says so
            self._client(self.settings.config).warm_up()

    def _client(self, config: Config) -> LLMClient:
        """The client for these settings: the current one, or a new one replacing it."""
        try:
            key = api_key_to_send(config)
        except MissingApiKey as error:
            raise CannotRun(
                f"{error} in the environment the editor starts deepthink-lsp in (the key is "
                "never read from editor settings, which travel through the LSP trace)"
            ) from None
        identity = (config.provider, key)
        if self._current is None or self._current[0] != identity:
            self._retire_current()
            self._current = (identity, LLMClient(config.provider, key))
        return self._current[1]

    def release(self, resources: Resources) -> None:
        self._users[resources.llm] -= 1
        if self._users[resources.llm] <= 0:
            del self._users[resources.llm]
            if self._current is None or self._current[1] is not resources.llm:
                _close(resources.llm)

    def close(self) -> None:
        """Close every client and the cache; jobs must have been cancelled first."""
        self._retire_current()
        for llm in list(self._users):
            _close(llm)
        self._users.clear()
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def _open_cache(self) -> ResultCache | None:
        """The shared result cache; a broken one only costs the caching, once logged."""
        if self._cache is None and not self._cache_failed:
            try:
                self._cache = ResultCache()
            except (OSError, sqlite3.Error):
                self._cache_failed = True
                _log.warning("result cache unavailable, running without it", exc_info=True)
        return self._cache

    def _retire_current(self) -> None:
        if self._current is not None:
            llm = self._current[1]
            self._current = None
            if not self._users[llm]:
                _close(llm)


def _close(llm: LLMClient) -> None:
    try:
        llm.close()
    except Exception:
        _log.exception("closing the LLM client failed")
