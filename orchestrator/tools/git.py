"""The `git_diff` and `git_log` tools: read-only views of the workspace's git history."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from orchestrator.diffpolicy import shown_diff
from orchestrator.git import GitResult, run_git
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
        return _without_refused_files(workspace, output) or "No differences."


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


def _without_refused_files(workspace: Workspace, diff: str) -> str:
    """The diff without the sections of files agents may not read (a tracked .env)."""
    shown = shown_diff(diff, workspace.refusal)
    if not shown.left_out:
        return shown.text
    count = len(shown.left_out)
    return f"{shown.text}[changes to {count} file(s) agents may not read are not shown]\n"


def _pathspec(workspace: Workspace, arguments: dict[str, Any]) -> str:
    """The `path` argument checked by the sandbox, relative to the root (git's cwd)."""
    return workspace.relative(workspace.resolve(optional_string(arguments, "path", ".")))


def _run_git(workspace: Workspace, *arguments: str) -> str:
    """Run git in the workspace root; its output, capped at the workspace read limit."""
    # Checked first because outside a repository `git diff` falls back to comparing
    # files (--no-index) and fails with a usage message instead.
    _run(workspace, ("rev-parse", "--is-inside-work-tree"))
    result = _run(workspace, arguments)
    text = result.stdout.decode("utf-8", errors="replace")
    if result.truncated:
        return f"{text}\n[truncated at {workspace.max_read_bytes} bytes; narrow the path or range]"
    return text


def _run(workspace: Workspace, arguments: tuple[str, ...]) -> GitResult:
    try:
        # Literal pathspecs: a name like ':(top)' cannot widen the search beyond the workspace.
        result = run_git(
            ["--literal-pathspecs", *arguments],
            workspace.root,
            timeout=_TIMEOUT_SECONDS,
            max_output=workspace.max_read_bytes,
        )
    except FileNotFoundError as error:
        raise ToolError("git is not installed, so git tools are unavailable") from error
    if result.cancelled:
        raise ToolError("git was stopped: the agent was cancelled")
    if result.timed_out:
        raise ToolError(f"git took longer than {_TIMEOUT_SECONDS:g} s; narrow the path or range")
    if result.returncode != 0 and not result.truncated:
        if "not a git repository" in result.stderr:
            raise ToolError("the workspace is not inside a git repository")
        raise ToolError(f"git failed: {result.stderr}")
    return result
