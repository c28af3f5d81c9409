"""Checked reading of the JSON arguments a model passes to a tool.

Models send numbers as strings and optional values as null often enough that
each tool would otherwise repeat the same coercion and error messages.
"""

from __future__ import annotations

from typing import Any

from orchestrator.workspace import ToolError


def required_string(arguments: dict[str, Any], key: str) -> str:
    value = arguments.get(key)
    if not isinstance(value, str) or not value:
        raise ToolError(f"argument '{key}' is required and must be a non-empty string")
    return value


def optional_string(arguments: dict[str, Any], key: str, default: str) -> str:
    value = arguments.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ToolError(f"argument '{key}' must be a string, got {value!r}")
    return value


def optional_positive_int(arguments: dict[str, Any], key: str) -> int | None:
    value = arguments.get(key)
    return None if value is None else _positive_int(key, value)


def capped_positive_int(arguments: dict[str, Any], key: str, default: int, cap: int) -> int:
    """The argument, or `default` when absent; values above `cap` are lowered to it."""
    value = arguments.get(key)
    return default if value is None else min(_positive_int(key, value), cap)


def _positive_int(key: str, value: object) -> int:
    match value:
        case bool():
            number = None  # JSON true is not 1
        case int():
            number = value
        case float() if value.is_integer():
            number = int(value)
        case str() if value.strip().isascii() and value.strip().isdigit():
            number = int(value)
        case _:
            number = None
    if number is None:
        raise ToolError(f"argument '{key}' must be an integer, got {value!r}")
    if number < 1:
        raise ToolError(f"argument '{key}' must be 1 or more, got {number}")
    return number
