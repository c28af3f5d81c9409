"""The VS Code extension (vscode-client/): its manifest, type check, lint, unit tests, and the
end-to-end test in a real VS Code (code-server) driven by Chromium against the real server.

The end-to-end script installs what it needs (Debian's chromium, ripgrep and libkrb5-dev, and
code-server from npm into ~/.cache/deepthink-lsp-e2e), builds the VSIX with the server's
wheels from the package index, and saves screenshots and logs under tests/artifacts/vscode/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.comments import STYLES

CLIENT = Path(__file__).resolve().parent.parent / "vscode-client"


def test_activates_on_the_languages_the_server_comments_in_and_not_at_startup() -> None:
    manifest = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))
    events = manifest["activationEvents"]
    languages = {event.removeprefix("onLanguage:") for event in events}
    assert all(event.startswith("onLanguage:") for event in events), events
    assert languages == set(STYLES)


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
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to build and test the VS Code extension")
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


@pytest.mark.timeout(900)
def test_end_to_end_in_code_server(installed: None) -> None:
    # This interpreter runs the scripted LLM server and the pip that downloads the VSIX's
    # wheels; the extension gets a new Python without the package and installs its own.
    env = {**os.environ, "DEEPTHINK_E2E_PYTHON": sys.executable}
    run("scripts/e2e.sh", timeout=870, env=env)
