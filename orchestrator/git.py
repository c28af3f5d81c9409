"""The one way this program runs git: on repositories it does not trust, running nothing else.

A repository's own config (`.git/config`, which a downloaded tree can carry) and its
`.gitattributes` can make even a read-only git command run programs: a filter driver's
`clean` command runs on `git diff`, a diff driver's `textconv` or `command`, `core.fsmonitor`,
`core.pager`, hooks. Every call here turns all of them off: filter and diff drivers by name
(git has no switch for all of them, so the configured ones are listed first), the rest by
fixed settings. The environment is a clean one (GIT_DIR or GIT_CONFIG_PARAMETERS in ours
would point git elsewhere or add config), and system-wide config is skipped. Output is
bounded, and the process is killed at its time limit and on the active cancel (see
`orchestrator.process`). Whatever keeps git from answering is one GitError, which says
which problem it was; each caller words it for its own user.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.process import Exit, bounded

DEFAULT_MAX_OUTPUT = 8 * 1024 * 1024

# Settings that keep git from running another program or reaching the network.
_SAFE_SETTINGS = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("core.pager", "cat"),
    ("core.attributesFile", os.devnull),
    ("core.quotePath", "false"),
    ("diff.external", ""),
    ("log.showSignature", "false"),  # gpg.program
    ("protocol.allow", "never"),  # a partial clone would fetch missing objects
)
# Per-driver commands that `.gitattributes` can select: emptied for every configured driver.
_DRIVER_COMMANDS = r"^(filter|diff|merge)\..+\.(clean|smudge|process|command|textconv|driver)$"
_LIST_DRIVERS = ("config", "--null", "--name-only", "--get-regexp", _DRIVER_COMMANDS)
# All git gets of our own environment: where to find programs and the user's own config,
# and two variables that only narrow what git looks at.
_KEPT_VARIABLES = (
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG_GLOBAL",
)


class GitProblem(enum.Enum):
    NOT_STARTED = "git could not start"  # not installed, or the directory does not exist
    NOT_A_REPOSITORY = "not a git repository"
    TIMED_OUT = "git did not finish in time"
    CANCELLED = "git was stopped"
    FAILED = "git failed"


class GitError(Exception):
    """git gave no answer; `problem` says why, `detail` is git's (or the system's) own words.

    Each caller words the message for its own user from these.
    """

    def __init__(self, problem: GitProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class GitOutput:
    stdout: bytes  # at most `max_output` bytes
    truncated: bool  # git printed more, and was stopped


def run_git(
    arguments: Sequence[str], cwd: Path, *, timeout: float, max_output: int = DEFAULT_MAX_OUTPUT
) -> GitOutput:
    """Run `git ARGUMENTS` in `cwd` with every program-running feature off: what it printed.

    Raises GitError when git gives no answer. Output cut at `max_output` is an answer.
    """
    try:
        listed, drivers = _run(_LIST_DRIVERS, cwd, timeout, _environment(()), 1024 * 1024)
        # Listed only when git read the config (an exit code of 1 means "none set").
        names = listed.split(b"\0") if drivers.returncode == 0 else []
        overrides = [(name.decode("utf-8", "surrogateescape"), "") for name in names if name]
        stdout, ended = _run(arguments, cwd, timeout, _environment(overrides), max_output)
    except OSError as error:  # FileNotFoundError, NotADirectoryError
        raise GitError(GitProblem.NOT_STARTED, error.strerror or str(error)) from None
    truncated = len(stdout) > max_output
    if ended.stopped_by == "cancel":
        raise GitError(GitProblem.CANCELLED, "")
    if ended.stopped_by == "timeout":
        raise GitError(GitProblem.TIMED_OUT, "")
    if ended.returncode != 0 and not truncated:
        if "not a git repository" in ended.stderr:
            raise GitError(GitProblem.NOT_A_REPOSITORY, ended.stderr)
        raise GitError(GitProblem.FAILED, ended.stderr or f"exit code {ended.returncode}")
    return GitOutput(stdout[:max_output], truncated)


def diff(
    root: Path,
    revision_range: str = "HEAD",
    *,
    relative: bool = False,
    paths: Sequence[str] = (),
    timeout: float,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> GitOutput:
    """`git diff REVISION_RANGE -- PATHS` in `root`: the changes as the files hold them.

    No external diff or textconv program runs, so the text is exactly what changed. With
    `relative`, only changes under `root`, named relative to it. Paths are literal (a name
    like ':(top)' cannot widen the diff).
    """
    # Checked first because outside a repository `git diff` falls back to comparing
    # files (--no-index) and fails with a usage message instead.
    run_git(["rev-parse", "--is-inside-work-tree"], root, timeout=timeout)
    options = ["--no-color", "--no-ext-diff", "--no-textconv"]
    options += ["--relative"] if relative else []
    # The range is a revision, never an option (--end-of-options) nor a path (--).
    arguments = [*options, "--end-of-options", revision_range, "--", *paths]
    return run_git(
        ["--literal-pathspecs", "diff", *arguments], root, timeout=timeout, max_output=max_output
    )


def _run(
    arguments: Sequence[str], cwd: Path, timeout: float, env: dict[str, str], max_output: int
) -> tuple[bytes, Exit]:
    """What git printed, one byte past `max_output` at most, and how it ended."""
    with bounded(["git", "--no-pager", *arguments], cwd=cwd, env=env, timeout=timeout) as git:
        stdout = git.stdout.read(max_output + 1)
        git.stop("enough output")
        return stdout, git.wait()


def _environment(overrides: Sequence[tuple[str, str]]) -> dict[str, str]:
    environment = {key: os.environ[key] for key in _KEPT_VARIABLES if key in os.environ}
    settings = [*_SAFE_SETTINGS, *overrides]
    # GIT_CONFIG_KEY_n/VALUE_n rather than `-c`: a driver's name may hold '=' or spaces.
    environment |= {f"GIT_CONFIG_KEY_{n}": key for n, (key, _) in enumerate(settings)}
    environment |= {f"GIT_CONFIG_VALUE_{n}": value for n, (_, value) in enumerate(settings)}
    environment |= {
        "GIT_CONFIG_COUNT": str(len(settings)),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_LAZY_FETCH": "1",  # a partial clone must not reach the network
        "GIT_OPTIONAL_LOCKS": "0",  # reading must not rewrite the index
        "LC_ALL": "C",  # English messages, so that callers can recognise them
    }
    return environment
