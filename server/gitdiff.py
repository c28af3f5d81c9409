"""Uncommitted changes: one file's, as the editor has it, or the whole workspace's.

A file's diff is taken from the open document rather than `git diff` on disk, so that
unsaved edits count and the line numbers in the diff (and so in the findings) are the
buffer's. The workspace's is git's own, of the files as saved.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.context import split_lines
from orchestrator.git import GitError, GitProblem, diff, run_git
from server.backend import CannotRun, NothingToDo

GIT_TIMEOUT = 10.0
# Messages git gives when the file has no committed version: then all of it is new.
_NOT_IN_HEAD = ("exists on disk, but not in", "does not exist in", "invalid object name")


def uncommitted_diff(path: Path, text: str, label: str) -> str:
    """A unified diff of `text` against HEAD's version of `path`; `label` names the file in it.

    Raises NothingToDo when there are no changes and CannotRun when git cannot tell.
    """
    committed = _committed_text(path)
    diff = difflib.unified_diff(
        _lines(committed),
        _lines(text),
        fromfile=f"a/{label}",
        tofile=f"b/{label}",
        lineterm="",
    )
    result = "\n".join(diff)
    if not result:
        raise NothingToDo(f"{label} has no uncommitted changes: there is no diff to review")
    return result


def workspace_diff(root: Path) -> str:
    """Every uncommitted change to tracked files under `root`, paths relative to it."""
    try:
        result = diff(root, relative=True, timeout=GIT_TIMEOUT)
    except GitError as error:
        raise _cannot_run(error, root, f"git diff failed in {root}") from None
    text = result.stdout.decode("utf-8", errors="replace")
    if not text.strip():
        raise NothingToDo(f"{root.name} has no uncommitted changes: there is no diff to review")
    return text


@dataclass(frozen=True)
class Hunk:
    """Where a diff changed a file: its lines (1-based, inclusive) on the new side."""

    path: str
    start_line: int
    end_line: int


_FILE = re.compile(r"^\+\+\+ (?:b/)?(.+?)\t?$")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def changed_hunks(diff: str) -> list[Hunk]:
    """The hunks of a unified diff; a pure deletion counts as the line after it."""
    hunks: list[Hunk] = []
    path = ""
    for line in diff.splitlines():
        if match := _FILE.match(line):
            path = match.group(1)
        elif (match := _HUNK.match(line)) and path != "/dev/null":
            start, count = int(match.group(1)), int(match.group(2) or 1)
            hunks.append(Hunk(path, max(start, 1), max(start + count - 1, start, 1)))
    return hunks


def _lines(text: str) -> list[str]:
    lines = split_lines(text)
    return lines[:-1] if lines[-1] == "" else lines  # a final line break starts no line


def _committed_text(path: Path) -> str:
    """HEAD's version of the file, or '' when it has none (a new file, a repo without commits)."""
    try:
        result = run_git(["show", f"HEAD:./{path.name}"], path.parent, timeout=GIT_TIMEOUT)
    except GitError as error:
        if error.problem is GitProblem.FAILED and any(p in error.detail for p in _NOT_IN_HEAD):
            return ""
        raise _cannot_run(error, path, f"git could not show the committed {path.name}") from None
    return result.stdout.decode("utf-8", errors="replace")


def _cannot_run(error: GitError, where: Path, failed: str) -> CannotRun:
    if error.problem is GitProblem.NOT_STARTED:
        return CannotRun("review diff needs git, and git is not on the PATH")
    if error.problem is GitProblem.TIMED_OUT:
        return CannotRun(f"git did not answer within {GIT_TIMEOUT:g} s")
    if error.problem is GitProblem.NOT_A_REPOSITORY:
        return CannotRun(f"{where} is not in a git repository: review diff compares with git HEAD")
    return CannotRun(f"{failed}: {error.detail}")
