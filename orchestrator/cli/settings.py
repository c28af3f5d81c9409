"""The configuration a run uses, the key it sends, and the result cache."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

from orchestrator.cache import ResultCache, default_cache_path, is_unreadable, remove_database
from orchestrator.cli.shell import EXIT_FAILED, EXIT_OK, UsageError, warn
from orchestrator.config import (
    Config,
    MissingApiKey,
    Source,
    api_key_to_send,
    load_config,
    read_yaml_source,
)


def load_cli_config(root: Path, args: argparse.Namespace) -> Config:
    overrides: list[Source] = []
    if args.config is not None:
        source = read_yaml_source(args.config)
        if source is None:
            raise UsageError(f"--config {args.config}: no such file")
        overrides.append(source)
    overrides.append(command_line_source(args))
    return load_config(root, overrides=overrides)


def command_line_source(args: argparse.Namespace) -> Source:
    values: dict[str, dict[str, Any]] = {}
    if args.model is not None:
        values.setdefault("provider", {})["model"] = args.model
    if args.agents is not None:
        values.setdefault("orchestrator", {})["parallel_agents"] = args.agents
    if args.timeout is not None:
        values.setdefault("orchestrator", {})["task_timeout"] = args.timeout
    # `deepthink eval` chooses its strategies itself, with --configs: it has no --strategy.
    if getattr(args, "strategy", None) is not None:
        values.setdefault("orchestrator", {})["strategy"] = args.strategy
    if args.no_cache:
        values["cache"] = {"enabled": False}
    return Source("command line", values)


def api_key(config: Config) -> str:
    """The key to send, or a usage error naming the variable to set."""
    try:
        return api_key_to_send(config)
    except MissingApiKey as error:
        raise UsageError(str(error)) from None


def open_cache() -> ResultCache | None:
    """The result cache, or None with a warning: a broken cache must not stop the run."""
    try:
        return ResultCache()
    except (OSError, sqlite3.Error) as error:
        fix = " (`deepthink cache clear` replaces it)" if _unreadable(error) else ""
        warn(f"warning: result cache unavailable, running without it: {error}{fix}")
        return None


def clear_cache() -> int:
    path = default_cache_path()
    try:
        cache = ResultCache(path)
        try:
            removed = cache.clear()
        finally:
            cache.close()
    except (OSError, sqlite3.Error) as error:
        if not _unreadable(error):  # locked, or no permission: deleting would not help
            warn(f"cannot clear the result cache {path}: {error}")
            return EXIT_FAILED
        try:
            remove_database(path)
        except OSError as failure:
            warn(f"cannot remove the unreadable result cache {path}: {failure.strerror}")
            return EXIT_FAILED
        print(f"removed the result cache {path}, which could not be read ({error})")
        return EXIT_OK
    print(f"removed {removed} cached result(s) from {path}")
    return EXIT_OK


def _unreadable(error: OSError | sqlite3.Error) -> bool:
    return isinstance(error, sqlite3.Error) and is_unreadable(error)
