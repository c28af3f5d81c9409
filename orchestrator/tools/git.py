"""The `git_diff` and `git_log` tools: read-only views of the workspace's git history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from orchestrator.diffpolicy import shown_diff
from orchestrator.git import GitError, GitOutput, GitProblem, diff, run_git
from orchestrator.tools.arguments import capped_positive_int, optional_string
from orchestrator.tools.base import Tool
from orchestrator.workspace import ToolError, Workspace

_TIMEOUT_SECONDS = 10.0
_DEFAULT_COMMITS = 10
_MAX_COMMITS = 50
# Revision names, `~`/`^` ancestry, `@{...}` reflog syntax and `..`/`...` ranges. It cannot
# start with '-' (an option) and excludes ':' (`rev:path` would read blobs outside the
# workspace's pathspec) and whitespace.
_REV_RANGE = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_@./~^{}-]{0,199}", re.ASCII)


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
        with _as_tool_error():
            result = diff(
                workspace.root,
                rev_range,
                relative=True,  # paths relative to the workspace, as the other tools show them
                paths=[pathspec],
                timeout=_TIMEOUT_SECONDS,
                max_output=workspace.max_read_bytes,
            )
        return _without_refused_files(workspace, _text(workspace, result)) or "No differences."


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
        log = [
            "--literal-pathspecs",  # a name like ':(top)' cannot widen it beyond the workspace
            "log",
            f"--max-count={count}",
            "--date=short",
            "--format=%h %ad %an: %s",
            "--no-color",
            "--no-show-signature",  # log.showSignature would run gpg
            "--",
            pathspec,
        ]
        with _as_tool_error():
            result = run_git(
                log, workspace.root, timeout=_TIMEOUT_SECONDS, max_output=workspace.max_read_bytes
            )
        return _text(workspace, result) or "No commits."


def _without_refused_files(workspace: Workspace, text: str) -> str:
    """The diff without the sections of files agents may not read (a tracked .env)."""
    shown = shown_diff(text, workspace.refusal)
    if not shown.left_out:
        return shown.text
    count = len(shown.left_out)
    return f"{shown.text}[changes to {count} file(s) agents may not read are not shown]\n"


def _pathspec(workspace: Workspace, arguments: dict[str, Any]) -> str:
    """The `path` argument checked by the sandbox, relative to the root (git's cwd)."""
    return workspace.relative(workspace.resolve(optional_string(arguments, "path", ".")))


@contextmanager
def _as_tool_error() -> Iterator[None]:
    try:
        yield
    except GitError as error:
        raise ToolError(_TOOL_MESSAGES.get(error.problem, f"git failed: {error.detail}")) from None


_TOOL_MESSAGES = {
    GitProblem.NOT_STARTED: "git is not installed, so git tools are unavailable",
    GitProblem.CANCELLED: "git was stopped: the agent was cancelled",
    GitProblem.TIMED_OUT: f"git took longer than {_TIMEOUT_SECONDS:g} s; narrow the path or range",
    GitProblem.NOT_A_REPOSITORY: "the workspace is not inside a git repository",
}


def _text(workspace: Workspace, result: GitOutput) -> str:
    """What git printed, saying where it was cut at the workspace read limit."""
    text = result.stdout.decode("utf-8", errors="replace")
    if result.truncated:
        return f"{text}\n[truncated at {workspace.max_read_bytes} bytes; narrow the path or range]"
    return text
