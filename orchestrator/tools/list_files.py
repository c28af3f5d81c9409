"""The `list_files` tool: the files of the workspace or of one directory in it."""

from __future__ import annotations

from itertools import islice
from typing import Any, ClassVar

from orchestrator.tools.arguments import capped_positive_int, optional_string
from orchestrator.tools.base import Tool
from orchestrator.workspace import Workspace

_DEFAULT_ENTRIES = 200
_MAX_ENTRIES = 2000


class ListFiles(Tool):
    name: ClassVar[str] = "list_files"
    description: ClassVar[str] = (
        "List files in the workspace (or under a directory of it), one path per line, "
        "relative to the workspace root. Files excluded by .gitignore are left out."
    )
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "Directory to list, relative to the workspace root (default: all).",
            },
            "max_entries": {
                "type": "integer",
                "minimum": 1,
                "maximum": _MAX_ENTRIES,
                "description": f"Most paths to return (default {_DEFAULT_ENTRIES}).",
            },
        },
        "additionalProperties": False,
    }

    def execute(self, workspace: Workspace, arguments: dict[str, Any]) -> str:
        directory = optional_string(arguments, "path", ".")
        limit = capped_positive_int(arguments, "max_entries", _DEFAULT_ENTRIES, _MAX_ENTRIES)
        # One extra file tells whether the listing was cut short.
        files = list(islice(workspace.iter_files(directory, max_files=limit + 1), limit + 1))
        if not files:
            scope = "the workspace" if directory == "." else directory
            return f"No files in {scope} (it may be empty or entirely ignored)."
        lines = [workspace.relative(file) for file in files[:limit]]
        if len(files) > limit:
            lines.append(
                f"[more files not shown; list a subdirectory or raise max_entries "
                f"(up to {_MAX_ENTRIES})]"
            )
        return "\n".join(lines)
