"""Real git for tests, kept apart from the developer's own git config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_GLOBAL_CONFIG = Path(__file__).with_name("gitconfig")
_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": str(_GLOBAL_CONFIG), "GIT_CONFIG_NOSYSTEM": "1"}


def git(root: Path, *arguments: str) -> str:
    """Run git in `root`; its output, or CalledProcessError with git's message."""
    result = subprocess.run(
        ["git", *arguments],
        cwd=root,
        env=_ENV,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout
