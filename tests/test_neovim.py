"""Neovim 0.11 with the README's plain-LSP setup (no plugin) drives deepthink-lsp: the
code-action menu on a selection, progress, the inserted comment.

The editor side is tests/nvim/deepthink_test.lua. The plugin has its own tests
(tests/test_neovim_plugin.py), on Neovim 0.7.2 as well.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.editors import neovim, neovim_command, run_editor
from tests.llm_server import ScriptedLLMServer
from tests.lsp_harness import PROJECT_ROOT, SOURCE, server_env
from tests.scenarios import script_run

SCRIPT = Path(__file__).parent / "nvim" / "deepthink_test.lua"
README = PROJECT_ROOT / "README.md"
SETUP_HEADING = "### Neovim without the plugin"
SERVER = Path(sys.executable).parent / "deepthink-lsp"
AGENTS = 4  # the server's default; the README's setup does not change it
SYNTHESIS = "It divides by zero when b is 0."


def readme_setup() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SETUP_HEADING) :]
    start = section.index("```lua\n") + len("```lua\n")
    return section[start : section.index("```", start)]


def test_the_readme_setup_runs_the_code_action_and_gets_the_comment(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    nvim = neovim("0.11.4")
    assert SERVER.exists(), f"{SERVER} is missing: install the package (pip install -e .)"
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS)
    project = tmp_path / "project"
    project.mkdir()
    source = project / "a.py"
    source.write_text(SOURCE, encoding="utf-8")
    setup = tmp_path / "setup.lua"
    setup.write_text(readme_setup(), encoding="utf-8")
    home = tmp_path / "home"
    env = server_env(llm_server, home)  # Neovim passes its environment on to the server
    env.update(
        XDG_STATE_HOME=str(home / ".local" / "state"),
        PATH=f"{SERVER.parent}{os.pathsep}{env['PATH']}",
        DEEPTHINK_TEST_SETUP=str(setup),
        DEEPTHINK_TEST_FILE=str(source),
        DEEPTHINK_TEST_LINES=str(len(SOURCE.splitlines())),
    )
    work = tmp_path / "nvim"
    work.mkdir()

    outcome = run_editor(neovim_command(nvim, SCRIPT), env, project, work)

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    lines: list[str] = outcome.result["lines"]
    comment = lines[: lines.index("def divide(a, b):")][3:]
    assert comment and all(line.startswith("#") for line in comment), lines
    assert SYNTHESIS in "\n".join(comment)
    assert [line for line in lines if not line.startswith("#")] == SOURCE.splitlines()
    kinds = [value["kind"] for value in outcome.result["progress"]]
    assert kinds[0] == "begin" and kinds[-1] == "end" and set(kinds[1:-1]) == {"report"}
    assert outcome.result["errmsg"] == ""
    assert "deprecated" not in outcome.result["messages"], outcome.report
