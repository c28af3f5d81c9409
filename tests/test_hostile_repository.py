"""A repository whose own git config tries to run programs: every git caller runs none."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.cli.target import read_diff
from orchestrator.tools.git import GitDiff, GitLog
from orchestrator.workspace import Workspace
from server.gitdiff import uncommitted_diff, workspace_diff
from tests.gitrepo import git


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


@pytest.fixture
def hostile_repo(tmp_path: Path, markers: Path) -> Path:
    """Committed code, an uncommitted change, and config that runs a program for each hook."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git(repo, "add", "code.py")
    git(repo, "commit", "-qm", "first")
    (repo / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (repo / "code.py").write_text("x = 2\n")

    def runs(name: str) -> str:
        return f"touch {markers / name}; cat"

    for key, value in {
        "filter.evil.clean": runs("filter-clean"),
        "filter.evil.smudge": runs("filter-smudge"),
        "diff.evil.textconv": runs("textconv"),
        "diff.evil.command": runs("diff-command"),
        "diff.external": runs("external-diff"),
        "core.fsmonitor": runs("fsmonitor"),
        "core.pager": runs("pager"),
        "core.hooksPath": str(markers),
    }.items():
        git(repo, "config", key, value)
    return repo


def test_the_hostile_config_does_run_programs_under_plain_git(
    hostile_repo: Path, markers: Path
) -> None:
    """Without the hardened runner, the same read-only diff runs the repository's programs."""
    subprocess.run(["git", "diff"], cwd=hostile_repo, capture_output=True, check=False)
    assert {"filter-clean", "diff-command", "fsmonitor"} <= set(os.listdir(markers))


def test_agents_git_tools_run_nothing(hostile_repo: Path, markers: Path) -> None:
    workspace = Workspace(hostile_repo)
    diff = GitDiff().execute(workspace, {})
    log = GitLog().execute(workspace, {})
    assert "-x = 1\n+x = 2" in diff
    assert "first" in log
    assert os.listdir(markers) == []


def test_cli_review_diff_runs_nothing(hostile_repo: Path, markers: Path) -> None:
    assert "+x = 2" in read_diff(hostile_repo, None)
    assert os.listdir(markers) == []


def test_server_review_diff_runs_nothing(hostile_repo: Path, markers: Path) -> None:
    diff = uncommitted_diff(hostile_repo / "code.py", "x = 3\n", "code.py")
    assert "-x = 1\n+x = 3" in diff
    assert "-x = 1\n+x = 2" in workspace_diff(hostile_repo)
    assert os.listdir(markers) == []


def test_git_variables_of_our_environment_do_not_reach_git(
    hostile_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.fsmonitor'='touch /tmp/never'")
    assert "-x = 1\n+x = 2" in GitDiff().execute(Workspace(hostile_repo), {})
