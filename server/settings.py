"""Editor settings: `initializationOptions` and the `deepthink` section of workspace/configuration.

Both hold the YAML config's keys (provider, orchestrator, agent, council, context) plus the
server's own: `output` and `comment.max_lines`. They are layered over the user and workspace
YAML files and the environment, later sources winning. An API key is refused here as in
YAML: it would travel through the LSP trace; the server reads it from its environment only.

workspace/configuration answers per workspace folder, and a folder's editor settings (VS
Code's `.vscode/settings.json`) can come with the repository, like its `.deepthink.yaml`.
So the keys that decide where the API key and the workspace's secrets go (provider.base_url,
provider.api_key_env, agent.allow_paths) are refused there unless they repeat
initializationOptions: they come from initializationOptions (the user's editor set-up starting
the server), the user's own config file or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from orchestrator.config import (
    Config,
    ConfigError,
    Source,
    load_config,
    shown,
    user_config_path,
    user_only_keys,
)
from server.comments import DEFAULT_MAX_LINES

SECTION = "deepthink"
INIT_SOURCE = "initializationOptions"
WORKSPACE_SOURCE = f"workspace/configuration ({SECTION})"


class Output(StrEnum):
    COMMENT = "comment"  # insert the synthesis as a comment above the selection (and hover)
    HOVER = "hover"  # only show it in the hover


@dataclass(frozen=True)
class Settings:
    config: Config
    output: Output = Output.COMMENT
    comment_max_lines: int = DEFAULT_MAX_LINES  # of an inserted comment's text


def load_settings(
    workspace: Path | None,
    init_options: object,
    workspace_values: object,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Layer the editor's settings over the configuration; ConfigError says what is wrong."""
    output = Output.COMMENT
    max_lines = DEFAULT_MAX_LINES
    overrides: list[Source] = []
    for name, values in ((INIT_SOURCE, init_options), (WORKSPACE_SOURCE, workspace_values)):
        config_values, server_values = _split(name, values)
        if name == WORKSPACE_SOURCE and (chosen := _changed(config_values, overrides[0].values)):
            key, why = chosen[0]
            raise ConfigError(
                f"{name}: {key}: workspace settings may not {why} (a workspace's editor "
                "settings can come with the repository); set it in initializationOptions, "
                f"in your own config file {user_config_path()}, or in the environment"
            )
        if "output" in server_values:
            output = _output(name, server_values["output"])
        if "comment" in server_values:
            max_lines = _comment_max_lines(name, server_values["comment"], max_lines)
        overrides.append(Source(name, config_values))
    return Settings(load_config(workspace, overrides=overrides, env=env), output, max_lines)


def _changed(workspace: Mapping[str, Any], init: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The user-only keys the workspace settings set otherwise than initializationOptions.

    Clients that send the same settings both ways (the Neovim plugin, for Neovim 0.7) only
    repeat the user's choice.
    """
    return [
        (key, why)
        for key, why in user_only_keys(workspace)
        if _at(workspace, key) != _at(init, key)
    ]


def _at(values: Mapping[str, Any], dotted: str) -> object:
    section, key = dotted.split(".")
    part = values.get(section)
    return part.get(key) if isinstance(part, Mapping) else None


def parse_output(value: object) -> Output:
    """An `output` value as given in a command argument or setting; ValueError if unknown."""
    if isinstance(value, str) and value in {output.value for output in Output}:
        return Output(value)
    choices = " or ".join(repr(o.value) for o in Output)
    raise ValueError(f"output: expected {choices}, got {shown(value)}")


_SERVER_KEYS = ("output", "comment")


def _split(name: str, values: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config keys, server keys) of one source; a client's null means 'not set'."""
    if values is None:
        return {}, {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{name}: expected an object of deepthink settings, got {shown(values)}")
    cleaned = _without_nulls(values)
    server = {key: cleaned.pop(key) for key in _SERVER_KEYS if key in cleaned}
    return cleaned, server


def _without_nulls(values: Mapping[str, Any]) -> dict[str, Any]:
    # VS Code reports every contributed setting, unset ones as null.
    return {
        key: _without_nulls(value) if isinstance(value, Mapping) else value
        for key, value in values.items()
        if value is not None
    }


def _output(name: str, value: object) -> Output:
    try:
        return parse_output(value)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


def _comment_max_lines(name: str, value: object, current: int) -> int:
    if not isinstance(value, Mapping) or set(value) - {"max_lines"}:
        raise ConfigError(f"{name}: comment: expected {{max_lines: <lines>}}, got {shown(value)}")
    lines = value.get("max_lines", current)
    if isinstance(lines, bool) or not isinstance(lines, int) or lines < 1:
        raise ConfigError(
            f"{name}: comment.max_lines: expected a whole number of lines >= 1, got {shown(lines)}"
        )
    return lines
