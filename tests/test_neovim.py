"""A real Neovim drives deepthink-lsp: code action on a range, progress, inserted comment.

The editor side is tests/nvim/deepthink_test.lua; it uses the same setup as the README.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm_server import ScriptedLLMServer
from tests.lsp_harness import AGENTS, COMMENTED, PROJECT_ROOT, SOURCE, SYNTHESIS_TEXT, server_env
from tests.scenarios import script_run

NVIM = shutil.which("nvim")
SCRIPT = Path(__file__).parent / "nvim" / "deepthink_test.lua"

pytestmark = pytest.mark.skipif(
    NVIM is None, reason="nvim is not installed (the project's test script installs neovim)"
)


def test_neovim_runs_the_code_action_and_gets_the_comment(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    assert NVIM is not None
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS_TEXT)
    project = tmp_path / "project"
    project.mkdir()
    source = project / "a.py"
    source.write_text(SOURCE, encoding="utf-8")
    expected = tmp_path / "expected.py"
    expected.write_text(COMMENTED, encoding="utf-8")
    result_file = tmp_path / "result.json"
    home = tmp_path / "home"
    env = server_env(llm_server, home)  # Neovim passes its environment on to the server
    env.update(
        XDG_STATE_HOME=str(home / ".local" / "state"),
        DEEPTHINK_TEST_FILE=str(source),
        DEEPTHINK_TEST_EXPECTED=str(expected),
        DEEPTHINK_TEST_RESULT=str(result_file),
        DEEPTHINK_TEST_COMMAND=json.dumps([sys.executable, "-m", "server"]),
        DEEPTHINK_TEST_CWD=str(PROJECT_ROOT),
        DEEPTHINK_TEST_AGENTS=str(AGENTS),
        DEEPTHINK_TEST_TITLE=f"Deep think: {AGENTS} agents",
    )

    completed = subprocess.run(
        [NVIM, "--headless", "--clean", "-n", "-i", "NONE", "-c", f"luafile {SCRIPT}"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=90,
    )

    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    report = f"nvim exited {completed.returncode}\nresult: {result}\nstderr: {completed.stderr}"
    assert completed.returncode == 0, report
    assert result["ok"], report
    assert result["lines"] == COMMENTED.splitlines()
    kinds = [value["kind"] for value in result["progress"]]
    assert kinds[0] == "begin" and kinds[-1] == "end" and set(kinds[1:-1]) == {"report"}
    assert result["server_exit"] == 0
