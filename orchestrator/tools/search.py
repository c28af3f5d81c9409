"""The `search` tool: lines matching a regular expression across workspace files."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from orchestrator.tools.arguments import capped_positive_int, optional_string, required_string
from orchestrator.tools.base import Tool
from orchestrator.tools.errors import ToolError
from orchestrator.workspace import Workspace

_DEFAULT_RESULTS = 50
_MAX_RESULTS = 200
_MAX_LINE_CHARS = 300
_MAX_FILES_SCANNED = 20_000
_OVERSIZED_NAMES_SHOWN = 5


class Search(Tool):
    name: ClassVar[str] = "search"
    description: ClassVar[str] = (
        "Search workspace files for a Python regular expression, line by line. "
        "Returns 'path:line: text' for each match. Files excluded by .gitignore, "
        "binary files and files over the read limit are skipped."
    )
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Python regular expression."},
            "path": {
                "type": "string",
                "description": "Directory or file to search, relative to the workspace root.",
            },
            "max_results": {
                "type": "integer",
                "minimum": 1,
                "maximum": _MAX_RESULTS,
                "description": f"Most matches to return (default {_DEFAULT_RESULTS}).",
            },
        },
        "required": ["pattern"],
        "additionalProperties": False,
    }

    def execute(self, workspace: Workspace, arguments: dict[str, Any]) -> str:
        pattern = required_string(arguments, "pattern")
        where = optional_string(arguments, "path", ".")
        limit = capped_positive_int(arguments, "max_results", _DEFAULT_RESULTS, _MAX_RESULTS)
        try:
            regex = re.compile(pattern)
        except re.error as error:
            raise ToolError(f"invalid regular expression {pattern!r}: {error}") from error

        matches: list[str] = []
        oversized: list[str] = []
        footer: list[str] = []
        files = workspace.iter_files(where, max_files=_MAX_FILES_SCANNED + 1)
        for scanned, file in enumerate(files):
            if scanned == _MAX_FILES_SCANNED:
                footer.append(f"[searched only the first {_MAX_FILES_SCANNED} files; narrow path]")
                break
            relative = workspace.relative(file)
            try:
                if file.stat().st_size > workspace.max_read_bytes:
                    oversized.append(relative)
                    continue
                text = workspace.read_text(str(file))
            except (OSError, ToolError):
                continue  # binary, or vanished since the walk: no lines to match
            for number, line in enumerate(text.split("\n"), start=1):
                if regex.search(line):
                    matches.append(f"{relative}:{number}: {_shorten(line.strip())}")
                    if len(matches) == limit:
                        break
            if len(matches) == limit:
                footer.append(f"[stopped at {limit} matches; narrow the pattern or path]")
                break

        if oversized:
            shown = ", ".join(oversized[:_OVERSIZED_NAMES_SHOWN])
            more = "" if len(oversized) <= _OVERSIZED_NAMES_SHOWN else ", ..."
            footer.append(
                f"[skipped {len(oversized)} file(s) over {workspace.max_read_bytes} bytes: "
                f"{shown}{more}]"
            )
        if not matches:
            scope = "the workspace" if where == "." else where
            return "\n".join([f"No matches for {pattern!r} in {scope}.", *footer])
        return "\n".join(matches + footer)


def _shorten(line: str) -> str:
    if len(line) <= _MAX_LINE_CHARS:
        return line
    return line[:_MAX_LINE_CHARS] + "…"
