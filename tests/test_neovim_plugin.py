"""The Neovim plugin (nvim-client/) in real Neovim 0.7.2 and 0.11.4, set up as the README's
lazy.nvim spec says, against the real server and the scripted LLM server.

The editor side is tests/nvim/plugin_test.lua; each test runs one of its scenarios.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.editors import (
    VERSIONS,
    Checkpoint,
    Outcome,
    neovim,
    neovim_command,
    run_editor,
)
from tests.gitrepo import git
from tests.llm_server import Reply, ScriptedLLMServer
from tests.lsp_harness import PROJECT_ROOT, SOURCE, server_env
from tests.scenarios import AGENT, DECOMPOSE, findings_block, is_agent, plan, script_run

SCRIPT = Path(__file__).parent / "nvim" / "plugin_test.lua"
PLUGIN = PROJECT_ROOT / "nvim-client"
README = PROJECT_ROOT / "README.md"
SPEC_HEADING = "### Neovim (0.7 or later): the plugin"
AGENTS = 4  # as the README's spec sets
SYNTHESIS = "It divides by zero when b is 0."
SERVER = Path(sys.executable).parent / "deepthink-lsp"
FINDING = {
    "path": "a.py",
    "start_line": 5,
    "end_line": 5,
    "severity": "error",
    "message": "Division by zero when b is 0.",
}


def committed(project: Path) -> None:
    """The project as a git repository with a.py committed."""
    git(project, "init", "-q")
    git(project, "add", "a.py")
    git(project, "commit", "-q", "-m", "initial")


def readme_spec() -> str:
    """The lazy.nvim spec: the first Lua block under the plugin's heading in the README."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SPEC_HEADING) :]
    start = section.index("```lua\n") + len("```lua\n")
    return section[start : section.index("```", start)]


@pytest.fixture(params=VERSIONS)
def nvim(request: pytest.FixtureRequest) -> Path:
    return neovim(request.param)


def run(
    nvim: Path,
    tmp_path: Path,
    llm: ScriptedLLMServer,
    scenario: str,
    *,
    path: str | None = None,
    prepare: Callable[[Path], None] | None = None,
    checkpoints: dict[str, Checkpoint] | None = None,
    **extra: str,
) -> Outcome:
    """Run one scenario of plugin_test.lua in a project holding a.py, HOME and XDG dirs
    under tmp_path, and nvim-client/ where the spec expects the clone."""
    if not SERVER.exists():
        pytest.skip(f"{SERVER} is missing: install the package (pip install -e .)")
    project = tmp_path / "project"
    project.mkdir()
    source = project / "a.py"
    source.write_text(SOURCE, encoding="utf-8")
    if prepare is not None:
        prepare(project)
    home = tmp_path / "home"
    # The spec's `dir`: a copy, since loading the plugin writes its help tags there.
    shutil.copytree(PLUGIN, home / "src" / "deepthink-lsp" / "nvim-client")
    spec = tmp_path / "spec.lua"
    spec.write_text(readme_spec(), encoding="utf-8")
    env = server_env(llm, home)  # Neovim passes its environment on to the server
    env.update(
        XDG_STATE_HOME=str(home / ".local" / "state"),
        PATH=path if path is not None else f"{SERVER.parent}{os.pathsep}{env['PATH']}",
        DEEPTHINK_TEST_SCENARIO=scenario,
        DEEPTHINK_TEST_SPEC=str(spec),
        DEEPTHINK_TEST_FILE=str(source),
        DEEPTHINK_TEST_SYNTHESIS=SYNTHESIS,
        **extra,
    )
    work = tmp_path / "nvim"
    work.mkdir()
    outcome = run_editor(neovim_command(nvim, SCRIPT), env, project, work, checkpoints)
    messages = outcome.result.get("messages", "")
    assert "deprecated" not in messages and "E5108" not in messages, outcome.report
    return outcome


def test_explain_through_the_mapping_and_the_command_then_hover_and_result(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS)

    outcome = run(nvim, tmp_path, llm_server, "explain")

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    result = outcome.result
    lines = result["lines"]
    # Both comments are in, above their code, and the code itself is untouched.
    assert [line for line in lines if not line.startswith("#")] == SOURCE.splitlines()
    kinds = [value["kind"] for value in result["progress"]]
    assert kinds.count("begin") == 2 and kinds.count("end") == 2, kinds
    # Progress was visible with no other plugin: status() while running, the end notified.
    running = [
        s
        for s, v in zip(result["statuses"], result["progress"], strict=True)
        if v["kind"] == "report"
    ]
    assert running and all(status.startswith("Deep think") for status in running), running
    assert any(n["message"].startswith("Deep think: ") for n in result["notifications"])
    assert result["errmsg"] == ""


def test_ask_prompts_for_the_question_from_the_command_and_the_code_action_menu(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS)
    questions = ["Does divide handle b == 0?", "Is area right for a negative r?"]  # then none

    def asked(question: str) -> None:
        prompts = [r.messages_text for r in llm_server.requests]
        assert any(question in text for text in prompts), f"{question!r} never reached the LLM"

    outcome = run(
        nvim,
        tmp_path,
        llm_server,
        "ask",
        checkpoints={
            "asked-by-command": lambda: asked(questions[0]),
            "asked-by-code-action": lambda: asked(questions[1]),
        },
        DEEPTHINK_TEST_ANSWERS="\n".join(questions),
    )

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    assert outcome.result["prompts"] == ["Deep think: ask… "] * 3
    assert any(
        n["message"] == "deepthink: no question, nothing asked"
        for n in outcome.result["notifications"]
    ), outcome.report
    assert outcome.result["begins"] == 3  # two asks and the explain, not the dismissed ask
    assert len([r for r in llm_server.requests if DECOMPOSE in r.messages_text]) == 3


def test_cancel_stops_the_job_and_its_llm_requests(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    llm_server.add(DECOMPOSE, Reply(content=plan(AGENTS)))
    llm_server.add(is_agent, Reply(content="never sent", delay=120))
    settled: list[int] = []

    def agents_waiting() -> None:
        llm_server.wait_for_requests(1 + AGENTS, timeout=30)

    def all_stopped() -> None:
        requests = llm_server.wait_settled(timeout=30)
        assert all(r.aborted for r in requests if AGENT in r.messages_text), requests
        settled.append(len(requests))

    outcome = run(
        nvim,
        tmp_path,
        llm_server,
        "cancel",
        checkpoints={"running": agents_waiting, "cancelled": all_stopped},
    )

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    assert any(
        n["message"] == "deepthink: cancelled 1 job" for n in outcome.result["notifications"]
    ), outcome.report
    assert [len(llm_server.requests)] == settled == [1 + AGENTS]  # nothing sent after the cancel


def test_review_fills_diagnostics_and_the_quickfix_list(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis="Risky division." + findings_block([FINDING]))

    outcome = run(nvim, tmp_path, llm_server, "review")

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    result = outcome.result
    line = result["return_line"] - 1  # 0-based, wherever the comment moved it
    assert result["diagnostics"] == [
        {"lnum": line, "message": FINDING["message"], "source": "deepthink", "severity": 1}
    ]
    assert [(item["lnum"], item["text"]) for item in result["quickfix"]] == [
        (line + 1, FINDING["message"])
    ]
    assert result["quickfix_title"] == "Deep think findings"
    assert result["quickfix_open"]


def test_the_quickfix_option_keeps_the_findings_in_the_quickfix_list(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis="Risky division." + findings_block([FINDING]))

    outcome = run(nvim, tmp_path, llm_server, "review_to_quickfix")

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    result = outcome.result
    assert [(item["lnum"], item["text"]) for item in result["quickfix"]] == [
        (result["return_line"], FINDING["message"])
    ]
    assert result["quickfix_title"] == "Deep think findings"
    assert not result["quickfix_open"]
    assert result["servers"] == 1  # setup() again started no second server


def test_settings_reach_the_server_from_the_start_and_the_result_opens_in_a_split(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS)

    options = '{"output": "hover", "result_window": "split"}'

    outcome = run(
        nvim, tmp_path, llm_server, "hover_output_in_split", DEEPTHINK_TEST_OPTIONS=options
    )

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    assert SYNTHESIS in outcome.result["result_window"]
    assert outcome.result["result_filetype"] == "markdown"
    assert not outcome.result["result_floating"]


def test_setup_again_changes_the_settings_of_the_running_server(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS)

    outcome = run(nvim, tmp_path, llm_server, "settings_change")

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    assert outcome.result["servers"] == 1


def test_diff_reviews_the_uncommitted_change_without_inserting_anything(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    finding = {
        "path": "a.py",
        "start_line": 5,
        "end_line": 5,
        "severity": "warning",
        "message": "The guard hides the division by zero.",
    }
    summary = "The new guard returns 0.0 instead of failing."
    script_run(llm_server, AGENTS, synthesis=summary + findings_block([finding]))

    outcome = run(nvim, tmp_path, llm_server, "diff", prepare=committed)

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    result = outcome.result
    assert result["diagnostics"] == [
        {"lnum": 4, "message": finding["message"], "source": "deepthink"}
    ]
    assert summary in result["result_window"]
    decomposition = llm_server.requests[0].messages_text
    assert "-    return a / b\\n+    return a / b if b else 0.0" in decomposition


def test_the_mapping_reviews_the_workspace_diff(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis="The guard hides it." + findings_block([FINDING]))

    outcome = run(nvim, tmp_path, llm_server, "diff_workspace", prepare=committed)

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    assert outcome.result["diagnostics"] == [
        {"lnum": 4, "message": FINDING["message"], "source": "deepthink"}
    ]
    decomposition = llm_server.requests[0].messages_text
    assert "-    return a / b\\n+    return a / b if b else 0.0" in decomposition


def test_a_missing_server_gives_a_notification_not_a_traceback(
    nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    path = os.pathsep.join(["/usr/bin", "/bin"])
    assert shutil.which("deepthink-lsp", path=path) is None

    outcome = run(nvim, tmp_path, llm_server, "missing_server", path=path)

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    messages = [(n["message"], n["level"]) for n in outcome.result["notifications"]]
    error = 4  # vim.log.levels.ERROR
    assert any(
        "'deepthink-lsp' is not an executable" in m and level == error for m, level in messages
    ), messages
    assert any("not attached to this buffer" in m for m, _ in messages), messages
    assert outcome.result["errmsg"] == ""
    assert "Error" not in outcome.stderr and "traceback" not in outcome.stderr.lower()
    assert llm_server.requests == []
    health = "\n".join(outcome.result["lines"])
    assert "ERROR" in health and "'deepthink-lsp' is not an executable on PATH" in health, health


def test_checkhealth_passes(nvim: Path, tmp_path: Path, llm_server: ScriptedLLMServer) -> None:
    outcome = run(nvim, tmp_path, llm_server, "checkhealth")

    assert outcome.returncode == 0 and outcome.result["ok"], outcome.report
    report = "\n".join(outcome.result["lines"])
    assert "ERROR" not in report and "WARNING" not in report, report
    assert f"server: {SERVER}" in report, report
    assert "version: deepthink-lsp " in report, report
    assert "endpoint reachable" in report, report
    assert "API key: $DEEPTHINK_API_KEY is set" in report, report
    assert "test-key" not in report
    assert outcome.result["help"] == ["deepthink.txt", "deepthink.txt"]
