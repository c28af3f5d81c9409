"""The one way this program runs git: on repositories it does not trust, running nothing else.

A repository's own config (`.git/config`, which a downloaded tree can carry) and its
`.gitattributes` can make even a read-only git command run programs: a filter driver's
`clean` command runs on `git diff`, a diff driver's `textconv` or `command`, `core.fsmonitor`,
`core.pager`, hooks. Every call here turns all of them off: filter and diff drivers by name
(git has no switch for all of them, so the configured ones are listed first), the rest by
fixed settings. The environment is a clean one (GIT_DIR or GIT_CONFIG_PARAMETERS in ours
would point git elsewhere or add config), and system-wide config is skipped. Output is
bounded, and the process is killed at its time limit and on the active cancel (see
`orchestrator.process`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.process import bounded

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
# All git gets of our own environment: where to find programs and the user's own config,
# and two variables that only narrow what git looks at.
_KEPT_VARIABLES = (
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG_GLOBAL",
)


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: bytes  # at most `max_output` bytes
    stderr: str  # the end of it
    truncated: bool  # stdout had more than `max_output` bytes
    timed_out: bool
    cancelled: bool


def run_git(
    arguments: Sequence[str], cwd: Path, *, timeout: float, max_output: int = 8 * 1024 * 1024
) -> GitResult:
    """Run `git ARGUMENTS` in `cwd` with every program-running feature off.

    Raises FileNotFoundError when git is not installed or `cwd` does not exist.
    """
    drivers = _run(
        ["config", "--null", "--name-only", "--get-regexp", _DRIVER_COMMANDS],
        cwd,
        timeout,
        _environment(()),
        max_output=1024 * 1024,
    )
    # Listed only when git read the config (an exit code of 1 means "none set").
    names = drivers.stdout.split(b"\0") if drivers.returncode == 0 else []
    overrides = [(name.decode("utf-8", "surrogateescape"), "") for name in names if name]
    return _run(list(arguments), cwd, timeout, _environment(overrides), max_output)


def _run(
    arguments: list[str], cwd: Path, timeout: float, env: dict[str, str], max_output: int
) -> GitResult:
    with bounded(["git", "--no-pager", *arguments], cwd=cwd, env=env, timeout=timeout) as git:
        stdout = git.stdout.read(max_output + 1)
        git.stop("enough output")
        ended = git.wait()
    return GitResult(
        returncode=ended.returncode,
        stdout=stdout[:max_output],
        stderr=ended.stderr,
        truncated=len(stdout) > max_output,
        timed_out=ended.stopped_by == "timeout",
        cancelled=ended.stopped_by == "cancel",
    )


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
