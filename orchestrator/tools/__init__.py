"""Agent tools: the built-ins in this package plus plugins registered as entry points.

A third-party package provides a tool by registering its Tool subclass::

    [project.entry-points."deepthink.tools"]
    my_tool = "my_package.module:MyTool"
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import pkgutil
from collections.abc import Mapping
from importlib.metadata import entry_points
from types import MappingProxyType

from orchestrator.tools.base import Tool

ENTRY_POINT_GROUP = "deepthink.tools"

logger = logging.getLogger(__name__)


@functools.cache
def discover_tools() -> Mapping[str, type[Tool]]:
    """Every available tool class by name: built-ins first, then entry-point plugins.

    A plugin whose name is already taken is skipped with a warning rather than
    replacing the earlier tool: a built-in must not be swapped for an unsandboxed
    look-alike by whatever happens to be installed, and raising would let one
    installed package disable every tool. A plugin that fails to load is skipped
    with a warning for the same reason. Clashes among built-ins are bugs here and raise.
    """
    tools: dict[str, type[Tool]] = {}
    for tool in _builtin_tools():
        if tool.name in tools:
            raise RuntimeError(
                f"built-in tools {tools[tool.name].__qualname__} and {tool.__qualname__} "
                f"are both named {tool.name!r}"
            )
        tools[tool.name] = tool
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.value):
        origin = f"tool plugin {entry_point.name!r} ({entry_point.value})"
        try:
            loaded = entry_point.load()
        except KeyboardInterrupt:
            raise
        except BaseException:
            # Third-party code may fail in any way, even with SystemExit at import (which
            # ended the CLI silently): the other tools must still load.
            logger.warning("%s failed to load; skipping it", origin, exc_info=True)
            continue
        if not _is_concrete_tool(loaded):
            logger.warning("%s is not a concrete Tool subclass with a name; skipping it", origin)
            continue
        existing = tools.get(loaded.name)
        if existing is loaded:
            continue  # the same class registered twice, e.g. a built-in also listed as a plugin
        if existing is not None:
            logger.warning(
                "%s is named %r, which %s.%s already provides; skipping the plugin",
                origin,
                loaded.name,
                existing.__module__,
                existing.__qualname__,
            )
            continue
        tools[loaded.name] = loaded
    return MappingProxyType(tools)


def build_tools(names: list[str] | None = None) -> list[Tool]:
    """Instances of the named tools in the given order, or of every tool (by name) for None."""
    available = discover_tools()
    if names is None:
        return [available[name]() for name in sorted(available)]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(
            f"unknown tool(s): {', '.join(unknown)}; known tools: {', '.join(sorted(available))}"
        )
    return [available[name]() for name in dict.fromkeys(names)]


def _builtin_tools() -> list[type[Tool]]:
    tools: list[type[Tool]] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        tools.extend(
            value
            for value in vars(module).values()
            # Only classes defined here: modules importing another tool must not add it twice.
            if _is_concrete_tool(value) and value.__module__ == module.__name__
        )
    return tools


def _is_concrete_tool(value: object) -> bool:
    return (
        inspect.isclass(value)
        and issubclass(value, Tool)
        and not inspect.isabstract(value)
        and isinstance(getattr(value, "name", None), str)
    )
