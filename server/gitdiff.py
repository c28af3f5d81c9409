"""A file's uncommitted changes: the editor's text against the file in git's HEAD.

The diff is taken from the open document rather than `git diff` on disk, so that unsaved
edits count and the line numbers in the diff (and so in the findings) are the buffer's.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from orchestrator.context import split_lines
from orchestrator.git import run_git
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


def _lines(text: str) -> list[str]:
    lines = split_lines(text)
    return lines[:-1] if lines[-1] == "" else lines  # a final line break starts no line


def _committed_text(path: Path) -> str:
    """HEAD's version of the file, or '' when it has none (a new file, a repo without commits)."""
    try:
        completed = run_git(["show", f"HEAD:./{path.name}"], path.parent, timeout=GIT_TIMEOUT)
    except FileNotFoundError:
        raise CannotRun("review diff needs git, and git is not on the PATH") from None
    if completed.timed_out:
        raise CannotRun(f"git did not answer within {GIT_TIMEOUT:g} s")
    if completed.returncode == 0:
        return completed.stdout.decode("utf-8", errors="replace")
    error = completed.stderr
    if "not a git repository" in error:
        raise CannotRun(f"{path} is not in a git repository: review diff compares with git HEAD")
    if any(phrase in error for phrase in _NOT_IN_HEAD):
        return ""
    raise CannotRun(f"git could not show the committed {path.name}: {error}")
