"""orchestrator.git: what git printed, or a GitError that names the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.git import GitError, GitProblem, diff, run_git
from tests.gitrepo import git


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed file at the top and one in sub/, both changed since."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "top.py").write_text("x = 1\n")
    (root / "sub" / "low.py").write_text("y = 1\n" * 1000)
    git(root, "add", ".")
    git(root, "commit", "-qm", "first")
    (root / "top.py").write_text("x = 2\n")
    (root / "sub" / "low.py").write_text("y = 2\n" * 1000)
    return root


def test_each_way_of_giving_no_answer_is_named(repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()

    with pytest.raises(GitError) as gone:
        run_git(["status"], tmp_path / "gone", timeout=30)
    # `git diff` alone would compare files (--no-index) there, and fail with its usage.
    with pytest.raises(GitError) as outside:
        diff(plain, timeout=30)
    with pytest.raises(GitError) as failed:
        diff(repo, "no-such-rev", timeout=30)

    assert gone.value.problem is GitProblem.NOT_STARTED
    assert outside.value.problem is GitProblem.NOT_A_REPOSITORY
    assert "not a git repository" in outside.value.detail
    assert failed.value.problem is GitProblem.FAILED
    assert "no-such-rev" in failed.value.detail and "no-such-rev" in str(failed.value)


def test_a_relative_diff_names_paths_under_its_root_only(repo: Path) -> None:
    whole = diff(repo, timeout=30).stdout.decode()
    below = diff(repo / "sub", relative=True, timeout=30).stdout.decode()

    assert "+++ b/top.py" in whole and "+++ b/sub/low.py" in whole
    assert "+++ b/low.py" in below and "top.py" not in below
    # Paths are literal: magic like ':(top)' cannot widen the diff beyond the root.
    assert diff(repo / "sub", relative=True, paths=[":(top)"], timeout=30).stdout == b""


def test_output_cut_at_the_limit_is_an_answer(repo: Path) -> None:
    cut = diff(repo, timeout=30, max_output=100)

    assert cut.truncated
    assert len(cut.stdout) == 100
    assert diff(repo, "HEAD", paths=["top.py"], timeout=30).truncated is False
