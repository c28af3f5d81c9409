"""The VS Code extension (vscode-client/): type check, lint, unit tests, and the end-to-end test
in a real VS Code (code-server) driven by Chromium against the real server.

The end-to-end script installs what it needs (Debian's chromium, ripgrep and libkrb5-dev, and
code-server from npm into ~/.cache/deepthink-lsp-e2e) and saves screenshots and logs under
tests/artifacts/vscode/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parent.parent / "vscode-client"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to build and test the VS Code extension",
)


def run(*command: str, timeout: float, env: dict[str, str] | None = None) -> None:
    """Run a command in vscode-client/; on failure, its output is the assertion message."""
    result = subprocess.run(
        command,
        cwd=CLIENT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}"


@pytest.fixture(scope="module")
def installed() -> None:
    """The extension's npm dependencies, exactly as package-lock.json pins them."""
    run("npm", "ci", "--no-audit", "--no-fund", timeout=300)


@pytest.mark.timeout(300)
def test_typecheck(installed: None) -> None:
    run("npm", "run", "typecheck", timeout=240)


@pytest.mark.timeout(300)
def test_lint(installed: None) -> None:
    run("npm", "run", "lint", timeout=240)


@pytest.mark.timeout(300)
def test_settings_mapping_unit_tests(installed: None) -> None:
    run("npm", "run", "test:unit", timeout=240)


@pytest.mark.timeout(600)
def test_end_to_end_in_code_server(installed: None) -> None:
    # The server runs on this interpreter: the one with the package under test installed.
    env = {**os.environ, "DEEPTHINK_E2E_PYTHON": sys.executable}
    run("scripts/e2e.sh", timeout=570, env=env)
