"""The `git_diff` and `git_log` tools: read-only views of the workspace's git history."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from typing import IO, Any, ClassVar

from orchestrator.tools.arguments import capped_positive_int, optional_string
from orchestrator.tools.base import Tool
from orchestrator.tools.errors import ToolError
from orchestrator.workspace import Workspace

_TIMEOUT_SECONDS = 10.0
_DEFAULT_COMMITS = 10
_MAX_COMMITS = 50
# Revision names, `~`/`^` ancestry, `@{...}` reflog syntax and `..`/`...` ranges. It cannot
# start with '-' (an option) and excludes ':' (`rev:path` would read blobs outside the
# workspace's pathspec) and whitespace.
_REV_RANGE = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_@./~^{}-]{0,199}", re.ASCII)

# Global options applied to every call. Pathspecs are literal so a name like ':(top)'
# cannot widen the search beyond the workspace; fsmonitor is off because a repository's
# own config could otherwise make git run an arbitrary hook program.
_GIT = (
    "git",
    "--no-pager",
    "--literal-pathspecs",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.quotePath=false",
)


class GitDiff(Tool):
    name: ClassVar[str] = "git_diff"
    description: ClassVar[str] = (
        "Show a unified diff from git. Without rev_range: uncommitted changes (staged and "
        "unstaged) against HEAD. With rev_range such as 'HEAD~1..HEAD' or 'main...feature': "
        "the changes in that range. Optionally limited to a file or directory."
    )
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "File or directory to limit the diff to (default: workspace).",
            },
            "rev_range": {
                "type": "string",
                "description": "A revision or range, e.g. 'HEAD~3', 'HEAD~1..HEAD', 'a...b'.",
            },
        },
        "additionalProperties": False,
    }

    def execute(self, workspace: Workspace, arguments: dict[str, Any]) -> str:
        pathspec = _pathspec(workspace, arguments)
        rev_range = optional_string(arguments, "rev_range", "HEAD")
        if not _REV_RANGE.fullmatch(rev_range):
            raise ToolError(
                f"invalid rev_range {rev_range!r}: use revision names and ranges like "
                "'HEAD~1..HEAD' (letters, digits and _ @ . / ~ ^ { } -, not starting with '-')"
            )
        output = _run_git(
            workspace,
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "--relative",  # paths relative to the workspace, as the other tools show them
            "--end-of-options",
            rev_range,
            "--",
            pathspec,
        )
        return output or "No differences."


class GitLog(Tool):
    name: ClassVar[str] = "git_log"
    description: ClassVar[str] = (
        "Show recent git commits, newest first, one per line: hash, date, author and "
        "subject. Optionally only commits touching a file or directory."
    )
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "File or directory whose history to show (default: workspace).",
            },
            "max_count": {
                "type": "integer",
                "minimum": 1,
                "maximum": _MAX_COMMITS,
                "description": f"Most commits to show (default {_DEFAULT_COMMITS}).",
            },
        },
        "additionalProperties": False,
    }

    def execute(self, workspace: Workspace, arguments: dict[str, Any]) -> str:
        pathspec = _pathspec(workspace, arguments)
        count = capped_positive_int(arguments, "max_count", _DEFAULT_COMMITS, _MAX_COMMITS)
        output = _run_git(
            workspace,
            "log",
            f"--max-count={count}",
            "--date=short",
            "--format=%h %ad %an: %s",
            "--no-color",
            "--no-show-signature",  # log.showSignature would run gpg
            "--",
            pathspec,
        )
        return output or "No commits."


def _pathspec(workspace: Workspace, arguments: dict[str, Any]) -> str:
    """The `path` argument checked by the sandbox, relative to the root (git's cwd)."""
    return workspace.relative(workspace.resolve(optional_string(arguments, "path", ".")))


def _run_git(workspace: Workspace, *arguments: str) -> str:
    """Run git in the workspace root; its output, capped at the workspace read limit."""
    # Checked first because outside a repository `git diff` falls back to comparing
    # files (--no-index) and fails with a usage message instead.
    _run(workspace, ("rev-parse", "--is-inside-work-tree"), subprocess.DEVNULL)
    # Output goes to a file rather than a pipe so a huge diff is never held in memory whole.
    with tempfile.TemporaryFile() as output:
        _run(workspace, arguments, output)
        output.seek(0)
        data = output.read(workspace.max_read_bytes + 1)
    text = data[: workspace.max_read_bytes].decode("utf-8", errors="replace")
    if len(data) > workspace.max_read_bytes:
        return f"{text}\n[truncated at {workspace.max_read_bytes} bytes; narrow the path or range]"
    return text


def _run(workspace: Workspace, arguments: tuple[str, ...], stdout: IO[bytes] | int) -> None:
    # GIT_DIR and friends from our own environment would point git at another repository.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    environment |= {
        "LC_ALL": "C",  # English messages, so "not a git repository" can be recognised
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_LAZY_FETCH": "1",  # a partial clone must not reach the network
    }
    try:
        result = subprocess.run(
            [*_GIT, *arguments],
            cwd=workspace.root,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as error:
        raise ToolError("git is not installed, so git tools are unavailable") from error
    except subprocess.TimeoutExpired as error:
        raise ToolError(
            f"git took longer than {_TIMEOUT_SECONDS:g} s; narrow the path or range"
        ) from error
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", errors="replace").strip()
        if "not a git repository" in message:
            raise ToolError("the workspace is not inside a git repository")
        raise ToolError(f"git failed: {message[-2000:]}")
