"""Helpers the release script uses to read the repository's history."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    subject: str


class GitError(Exception):
    pass


def _run(args: list[str], cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise GitError(result.stderr.strip() or f"git {args[0]} failed")
    return result.stdout


def commits_since(tag: str, cwd: Path) -> list[Commit]:
    """Commits reachable from HEAD but not from `tag`, newest first."""
    output = _run(["log", "--format=%H%x1f%an%x1f%s", f"{tag}..HEAD", "--"], cwd)
    commits = []
    for line in output.splitlines():
        sha, author, subject = line.split("\x1f", 2)
        commits.append(Commit(sha, author, subject))
    return commits


def files_changed(branch: str, cwd: Path) -> list[str]:
    """Files that differ between `branch` and HEAD, as the changelog lists them."""
    result = subprocess.run(
        f"git diff --name-only {branch}...HEAD",
        shell=True,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise GitError(result.stderr.strip())
    return [line for line in result.stdout.splitlines() if line]


def latest_tag(cwd: Path) -> str:
    return _run(["describe", "--tags", "--abbrev=0"], cwd).strip()
