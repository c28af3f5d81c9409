"""Real git for tests, kept apart from the developer's own git config."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

# A global config of our own instead of the developer's (signing, hooks, default branch):
# it gives commits an identity that a test repository's own config can still override.
_GLOBAL_CONFIG = Path(tempfile.mkdtemp(prefix="deepthink-git-")) / "gitconfig"
_GLOBAL_CONFIG.write_text(
    "[user]\n\tname = Test\n\temail = test@example.com\n[commit]\n\tgpgsign = false\n"
)
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
