"""What to think about: FILE[:START-END] or a git diff, and the workspace it belongs to."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

from orchestrator.cli.shell import NothingToReview, UsageError, warn
from orchestrator.config import Config
from orchestrator.context import review_diff_request, selection_request, split_lines
from orchestrator.diffpolicy import shown_diff
from orchestrator.git import GitError, GitProblem, diff, run_git
from orchestrator.request import Mode, Request
from orchestrator.workspace import BINARY_SNIFF_BYTES, Workspace

GIT_TIMEOUT = 30.0
MAX_FILE_BYTES = 8 * 1024 * 1024  # the whole file is read to pack its context
_LINE_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_DIFF_TARGET = re.compile(r"^\+\+\+ b/(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Target:
    """FILE[:START-END] as typed; no lines means the whole file."""

    file: Path
    start_line: int | None = None
    end_line: int | None = None


def parse_target(spec: str) -> Target:
    """Split FILE[:START-END]; a file whose own name ends in ':N' is taken whole."""
    name, colon, lines = spec.rpartition(":")
    if not colon or Path(spec).exists():
        if not spec:
            raise UsageError("no FILE given")
        return Target(Path(spec))
    if not name:
        raise UsageError(f"{spec}: no FILE before ':{lines}'")
    match = _LINE_RANGE.fullmatch(lines)
    if match is None:
        raise UsageError(
            f"{spec}: bad line range '{lines}': expected FILE:START-END or FILE:LINE (1-based)"
        )
    start = int(match[1])
    end = int(match[2] or match[1])
    if start < 1:
        raise UsageError(f"{spec}: lines are numbered from 1")
    if end < start:
        raise UsageError(f"{spec}: the range ends ({end}) before it starts ({start})")
    return Target(Path(name), start, end)


def read_source(file: Path, shown_as: str) -> str:
    """The text of a file to think about; binary, huge or unreadable files are usage errors."""
    try:
        status = file.stat()
        if stat.S_ISDIR(status.st_mode):
            raise UsageError(f"{shown_as}: is a directory, not a file")
        if not stat.S_ISREG(status.st_mode):  # a FIFO or device could block forever
            raise UsageError(f"{shown_as}: not a regular file")
        if status.st_size > MAX_FILE_BYTES:
            raise UsageError(f"{shown_as}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        data = file.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{shown_as}: no such file") from None
    except OSError as error:
        raise UsageError(f"{shown_as}: cannot read the file: {error.strerror}") from None
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise UsageError(f"{shown_as}: a binary file (it contains NUL bytes); give a text file")
    return data.decode("utf-8", errors="replace")


def file_request(
    mode: Mode, target: Target, text: str, path: str, question: str | None, config: Config
) -> Request:
    lines = split_lines(text)
    if lines[-1] == "":
        lines.pop()  # the final line break ends the last line; it does not start another
    if not lines:
        raise UsageError(f"{path}: the file is empty")
    start = target.start_line or 1
    end = target.end_line or len(lines)
    if end > len(lines):
        raise UsageError(f"{path} has {len(lines)} lines; lines {start}-{end} run past the end")
    return selection_request(
        mode, path, text, start, end, config.context.max_tokens, question=question
    )


def diff_request(root: Path, rev_range: str | None, config: Config) -> Request:
    # The changes of files agents may not read (a tracked .env) are not sent either.
    policy = config.agent.read_policy()
    shown = shown_diff(read_diff(root, rev_range), Workspace(root, policy=policy).refusal)
    if not shown.text.strip():
        raise NothingToReview(f"review-diff: nothing to review: {shown.note}")
    if shown.note:
        warn(f"warning: {shown.note}")
    diff = shown.text
    changed = set(_DIFF_TARGET.findall(diff))
    # With one changed file, findings without a path belong to it; otherwise to none.
    path = changed.pop() if len(changed) == 1 else ""
    return review_diff_request(path, diff, config.context.max_tokens)


def read_diff(root: Path, rev_range: str | None) -> str:
    if rev_range is not None and (not rev_range.strip() or rev_range.startswith("-")):
        raise UsageError(f"review-diff: '{rev_range}' is not a revision range")
    revision = rev_range or "HEAD"
    described = f"git diff {revision}"
    try:
        # Relative: a workspace below the repository's top reviews its own changes, named
        # as its agents' tools and the read policy name them.
        result = diff(root, revision, relative=True, timeout=GIT_TIMEOUT, max_output=MAX_FILE_BYTES)
    except GitError as error:
        raise UsageError(_git_problem(error, root, described)) from None
    if not result.stdout.strip():
        raise NothingToReview(f"review-diff: nothing to review: {described} is empty")
    return result.stdout.decode("utf-8", errors="replace")


def explicit_workspace(directory: Path | None) -> Path | None:
    if directory is None:
        return None
    if not directory.is_dir():
        raise UsageError(f"--workspace {directory}: not a directory")
    return directory.resolve()


def default_workspace(file: Path) -> Path:
    """The git repository holding the file, else the current directory if it holds the file.

    A file outside both gets its own directory, so that the agents can still read it.
    """
    repository = git_toplevel(file.parent)
    if repository is not None:
        return repository
    cwd = Path.cwd().resolve()
    return cwd if file.is_relative_to(cwd) else file.parent


def git_toplevel(directory: Path) -> Path | None:
    try:
        result = run_git(["rev-parse", "--show-toplevel"], directory, timeout=GIT_TIMEOUT)
    except GitError:
        return None  # no git at all, or no repository: no top level either way
    top = result.stdout.decode("utf-8", errors="replace").strip()
    return Path(top).resolve() if top else None


def relative_path(file: Path, root: Path) -> str:
    if not file.is_relative_to(root):
        raise UsageError(f"{file} is outside the workspace {root}")
    return file.relative_to(root).as_posix()


def _git_problem(error: GitError, cwd: Path, described: str) -> str:
    if error.problem is GitProblem.NOT_STARTED:
        return f"cannot run git in {cwd}: {error.detail}"
    if error.problem is GitProblem.TIMED_OUT:
        return f"{described} took more than {GIT_TIMEOUT:g} s"
    if error.problem is GitProblem.NOT_A_REPOSITORY:
        return f"review-diff: {cwd} is not inside a git repository"
    first_line = error.detail.splitlines()[:1] or [error.problem.value]
    return f"review-diff: {described} failed: {first_line[0]}"
