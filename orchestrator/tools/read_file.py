"""The `read_file` tool: a text file, or a range of its lines, with line numbers."""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.tools.arguments import optional_positive_int, required_string
from orchestrator.tools.base import Tool
from orchestrator.workspace import Workspace

_MIN_NUMBER_WIDTH = 4


class ReadFile(Tool):
    name: ClassVar[str] = "read_file"
    description: ClassVar[str] = (
        "Read a text file from the workspace. Each line is prefixed with its number "
        "('  12| code') so you can cite it as path:12. For long files pass start_line "
        "and end_line; output is capped and says where to continue."
    )
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path relative to the workspace root."},
            "start_line": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
            "end_line": {"type": "integer", "minimum": 1, "description": "Last line, inclusive."},
        },
        "required": ["path"],
        "additionalProperties": False,
    }

    def execute(self, workspace: Workspace, arguments: dict[str, Any]) -> str:
        excerpt = workspace.read_excerpt(
            required_string(arguments, "path"),
            optional_positive_int(arguments, "start_line"),
            optional_positive_int(arguments, "end_line"),
        )
        lines = excerpt.text.split("\n")
        if lines[-1] == "":
            lines.pop()  # the split after a final newline is not a line
        if not lines:
            return "(empty file)"
        width = max(_MIN_NUMBER_WIDTH, len(str(excerpt.first_line + len(lines) - 1)))
        numbered = [
            f"{number:>{width}}| {line.removesuffix(chr(13))}"
            for number, line in enumerate(lines, start=excerpt.first_line)
        ]
        if excerpt.truncation_notice is not None:
            numbered.append(excerpt.truncation_notice)
        return "\n".join(numbered)
