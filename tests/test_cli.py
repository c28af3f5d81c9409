"""The `deepthink` command end to end: real arguments, real files and git, the scripted server.

Most tests call `main()` in-process with the environment a user would set; a few run
`python -m orchestrator` as a separate process, which is the only way to test Ctrl-C and
the live display on a terminal honestly.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.cli import main
from orchestrator.cli.display import render_progress, state_changes
from orchestrator.cli.target import Target, parse_target
from orchestrator.progress import AgentState, AgentStatus, Phase, Snapshot
from orchestrator.tools import discover_tools
from tests import scenarios
from tests.child_process import (
    LineReader,
    killed_on_failure,
    start_deepthink,
    subprocess_env,
)
from tests.conftest import SAMPLE
from tests.gitrepo import git
from tests.llm_server import RecordedRequest, Reply, ScriptedLLMServer

SYNTHESIS = "## Summary\nIt divides by zero (`a.py:2`)."
TIMED_OUT = "stopped after 300 s (orchestrator.task_timeout)"


def deepthink(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def chat_requests(llm: ScriptedLLMServer) -> list[RecordedRequest]:
    return [r for r in llm.requests if r.path.endswith("/chat/completions")]


def agent_requests(llm: ScriptedLLMServer) -> list[RecordedRequest]:
    return [r for r in chat_requests(llm) if scenarios.is_agent(r.body)]


def committed_repository(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "add", "a.py")
    git(root, "commit", "-q", "-m", "initial")


# --- the commands -------------------------------------------------------------------------


@pytest.mark.usefixtures("env")
def test_explain_prints_the_synthesis(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.script_run(llm_server, 4, synthesis=SYNTHESIS)

    code, out, err = deepthink(capsys, "explain", "a.py:2")

    assert code == 0
    assert out.strip() == SYNTHESIS
    assert "running 4 agents" in err
    assert "done in" in err and "tokens" in err
    assert "(tokens in/out: plan " in err and ", agents " in err and ", synthesis " in err
    decomposition = chat_requests(llm_server)[0]
    assert scenarios.DECOMPOSE in decomposition.messages_text
    # The selected line, its place and its numbered context all reach the model.
    assert "a.py:2-2" in decomposition.messages_text
    assert "return a / b" in decomposition.messages_text
    assert "2>|" in decomposition.messages_text


@pytest.mark.usefixtures("env")
def test_review_prints_findings_as_path_line_lines(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    findings = [
        {"path": "a.py", "start_line": 2, "end_line": 2, "severity": "error", "message": "b=0"},
        {"start_line": 5, "severity": "warning", "message": "called with zero"},
    ]
    one_agent = {"path": "a.py", "line": 5, "message": "divide(1, 0) raises", "quote": "print("}
    scenarios.script_run(
        llm_server,
        2,
        answer="Look at the call." + scenarios.findings_block([one_agent]),
        synthesis=SYNTHESIS + scenarios.findings_block(findings),
    )

    code, out, _ = deepthink(capsys, "review", "a.py", "--agents", "2")

    assert code == 0
    lines = out.strip().splitlines()
    assert lines[-3:] == [
        "a.py:5: warning: divide(1, 0) raises (2/2 agents)",
        "a.py:2: error: b=0",
        "a.py:5: warning: called with zero",
    ]
    assert "```findings" not in out
    assert "Review the selected code at a.py:1-5" in chat_requests(llm_server)[0].messages_text


@pytest.mark.usefixtures("env")
def test_ask_passes_the_question_to_every_agent(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.script_run(llm_server, 3)

    code, _, _ = deepthink(capsys, "ask", "a.py:1-2", "Why does it crash on zero?", "--agents", "3")

    assert code == 0
    agents = agent_requests(llm_server)
    assert len(agents) == 3
    assert all("Why does it crash on zero?" in r.messages_text for r in agents)


def test_review_diff_sends_the_uncommitted_changes(
    llm_server: ScriptedLLMServer,
    env: dict[str, str],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    committed_repository(workspace)
    (workspace / "a.py").write_text(SAMPLE.replace("a / b", "a / b if b else 0"))
    pathless = [{"start_line": 2, "severity": "info", "message": "zero now returns 0"}]
    scenarios.script_run(llm_server, 2, synthesis=SYNTHESIS + scenarios.findings_block(pathless))

    code, out, _ = deepthink(capsys, "review-diff", "--agents", "2")

    assert code == 0
    text = chat_requests(llm_server)[0].messages_text
    assert "Review this diff" in text
    assert "+    return a / b if b else 0" in text
    assert "-    return a / b" in text
    # With one file changed, a finding without a path belongs to that file.
    assert "a.py:2: info: zero now returns 0" in out


def test_review_diff_leaves_out_the_changes_of_files_agents_may_not_read(
    llm_server: ScriptedLLMServer,
    env: dict[str, str],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (workspace / ".env").write_text("API_KEY=sk-old\n")
    git(workspace, "init", "-q")
    git(workspace, "add", "a.py", ".env")
    git(workspace, "commit", "-q", "-m", "initial")
    (workspace / ".env").write_text("API_KEY=sk-new-secret\n")
    (workspace / "a.py").write_text(SAMPLE.replace("a / b", "a / b if b else 0"))
    scenarios.script_run(llm_server, 1)

    code, _, err = deepthink(capsys, "review-diff", "--agents", "1")
    sent = [r.messages_text for r in chat_requests(llm_server)]
    llm_server.clear()
    scenarios.script_run(llm_server, 1)
    (workspace / "a.py").write_text(SAMPLE)  # only the secret changed
    nothing_else, out, nothing_err = deepthink(capsys, "review-diff", "--agents", "1")
    user_config = Path(env["XDG_CONFIG_HOME"]) / "deepthink" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("agent:\n  allow_paths: ['.env']\n")
    allowed, _, allowed_err = deepthink(capsys, "review-diff", "--agents", "1")

    assert code == 0
    assert "+    return a / b if b else 0" in sent[0]
    assert "sk-" not in "".join(sent), "no request carries the secret"
    assert err.startswith(
        "deepthink: warning: left out of the diff: .env may hold secrets (like .env, *.pem, "
        "id_rsa); if it is safe to send to the model, add it to agent.allow_paths in your own "
        "config\n"
    )
    assert (nothing_else, out) == (1, "")
    assert nothing_err == (
        "deepthink: review-diff: nothing to review: left out of the diff: .env may hold secrets "
        "(like .env, *.pem, id_rsa); if it is safe to send to the model, add it to "
        "agent.allow_paths in your own config\n"
    )
    assert allowed == 0 and "left out" not in allowed_err
    assert "+API_KEY=sk-new-secret" in chat_requests(llm_server)[0].messages_text


def test_review_diff_of_a_workspace_below_the_repository_top_reviews_its_own_changes(
    llm_server: ScriptedLLMServer,
    env: dict[str, str],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (workspace / "service").mkdir()
    (workspace / "service" / "b.py").write_text(SAMPLE)
    git(workspace, "init", "-q")
    git(workspace, "add", "a.py", "service/b.py")
    git(workspace, "commit", "-q", "-m", "initial")
    (workspace / "a.py").write_text(SAMPLE.replace("a / b", "a // b"))  # outside the workspace
    (workspace / "service" / "b.py").write_text(SAMPLE.replace("a / b", "a / b if b else 0"))
    pathless = [{"start_line": 2, "severity": "info", "message": "zero now returns 0"}]
    scenarios.script_run(llm_server, 1, synthesis=SYNTHESIS + scenarios.findings_block(pathless))

    code, out, _ = deepthink(
        capsys, "review-diff", "--workspace", str(workspace / "service"), "--agents", "1"
    )

    assert code == 0
    text = chat_requests(llm_server)[0].messages_text
    assert "+    return a / b if b else 0" in text
    assert "a // b" not in text, "a change outside the workspace was sent"
    # Named as the workspace's tools name it, so the finding's path is the file's.
    assert "b.py:2: info: zero now returns 0" in out and "service/b.py" not in out


def test_review_diff_of_a_revision_range(
    llm_server: ScriptedLLMServer,
    env: dict[str, str],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    committed_repository(workspace)
    (workspace / "b.py").write_text("print('second commit')\n")
    git(workspace, "add", "b.py")
    git(workspace, "commit", "-q", "-m", "second")
    scenarios.script_run(llm_server, 1)

    code, _, _ = deepthink(capsys, "review-diff", "HEAD~1..HEAD", "--agents", "1")

    assert code == 0
    text = chat_requests(llm_server)[0].messages_text
    assert "+print('second commit')" in text
    assert "divide" not in text  # the first commit is outside the range


def test_review_diff_with_nothing_changed_says_so(
    llm_server: ScriptedLLMServer,
    env: dict[str, str],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    committed_repository(workspace)

    code, out, err = deepthink(capsys, "review-diff")

    assert code == 1
    assert out == ""
    assert err == "deepthink: review-diff: nothing to review: git diff HEAD is empty\n"
    assert llm_server.requests == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["review-diff", "--", "--output=/tmp/x"], "'--output=/tmp/x' is not a revision range"),
        (["review-diff", "no-such-rev"], "git diff no-such-rev failed"),
    ],
)
def test_review_diff_refuses_bad_ranges(
    llm_server: ScriptedLLMServer,
    env: dict[str, str],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    committed_repository(workspace)

    code, _, err = deepthink(capsys, *argv)

    assert code == 2
    assert message in err
    assert llm_server.requests == []


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("argv", [[], ["--workspace", "."]])
def test_review_diff_outside_a_repository_is_a_usage_error(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = deepthink(capsys, "review-diff", *argv)

    assert code == 2
    assert "not inside a git repository" in err
    assert llm_server.requests == []


# --- options ------------------------------------------------------------------------------


@pytest.mark.usefixtures("env")
def test_json_output_is_the_result_with_usage(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    findings = [{"path": "a.py", "start_line": 2, "severity": "error", "message": "b=0"}]
    # Both agents raise it, quoting the code; the synthesis repeats it.
    quoted = [{**findings[0], "quote": "return a / b"}]
    scenarios.script_run(
        llm_server,
        2,
        answer="It divides by b." + scenarios.findings_block(quoted),
        synthesis=SYNTHESIS + scenarios.findings_block(findings),
    )

    code, out, _ = deepthink(capsys, "review", "a.py:2", "--json", "--agents", "2")

    assert code == 0
    data = json.loads(out)
    assert data["status"] == "done"
    assert data["markdown"] == SYNTHESIS
    assert data["findings"] == [
        {
            "path": "a.py",
            "start_line": 2,
            "end_line": 2,
            "severity": "error",
            "message": "b=0",
            "quote": "return a / b",
            "agents": [1, 2],
            "of_agents": 2,
            "views": [{"agent": 1, "message": "b=0"}, {"agent": 2, "message": "b=0"}],
        }
    ]
    assert data["agents"][0]["findings"][0]["quote"] == "return a / b"
    assert [agent["state"] for agent in data["agents"]] == ["done", "done"]
    assert data["usage"]["total_tokens"] > 0
    assert data["usage"]["total_tokens"] == sum(
        call["usage"]["prompt_tokens"] + call["usage"]["completion_tokens"]
        for call in data["calls"]
    )


@pytest.mark.usefixtures("env")
def test_agents_option_sets_the_number_of_agents(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.script_run(llm_server, 2)

    code, _, _ = deepthink(capsys, "explain", "a.py", "--agents", "2")

    assert code == 0
    assert len(agent_requests(llm_server)) == 2
    assert "exactly 2 complementary sub-questions" in chat_requests(llm_server)[0].messages_text


@pytest.mark.usefixtures("env")
def test_model_option_reaches_every_request(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.script_run(llm_server, 2)

    code, _, _ = deepthink(capsys, "explain", "a.py", "--agents", "2", "--model", "my-model")

    assert code == 0
    assert len(chat_requests(llm_server)) == 4
    assert {r.model for r in chat_requests(llm_server)} == {"my-model"}


@pytest.mark.usefixtures("env")
def test_invalid_option_value_names_the_key(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = deepthink(capsys, "explain", "a.py", "--agents", "0")

    assert code == 2
    assert err.startswith("deepthink: command line: orchestrator.parallel_agents: expected")
    assert llm_server.requests == []


@pytest.mark.usefixtures("env")
def test_config_option_adds_a_layer(
    llm_server: ScriptedLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("provider:\n  model: from-extra-file\norchestrator:\n  parallel_agents: 1\n")
    scenarios.script_run(llm_server, 1)

    code, _, _ = deepthink(capsys, "explain", "a.py", "--config", str(extra))

    assert code == 0
    assert len(agent_requests(llm_server)) == 1
    assert {r.model for r in chat_requests(llm_server)} == {"from-extra-file"}


@pytest.mark.usefixtures("env")
def test_repeated_request_is_answered_from_the_cache(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.script_run(llm_server, 2, synthesis=SYNTHESIS)
    argv = ["explain", "a.py:2", "--agents", "2"]
    assert deepthink(capsys, *argv)[0] == 0
    sent = len(llm_server.requests)

    code, out, err = deepthink(capsys, *argv)

    assert (code, out.strip()) == (0, SYNTHESIS)
    assert "from the result cache" in err
    assert len(llm_server.requests) == sent
    assert deepthink(capsys, *argv, "--no-cache")[0] == 0
    assert len(llm_server.requests) == 2 * sent
    code, out, _ = deepthink(capsys, "cache", "clear")
    assert code == 0 and out.startswith("removed 1 cached result(s)")
    assert deepthink(capsys, *argv)[0] == 0
    assert len(llm_server.requests) == 3 * sent


# --- what goes wrong ------------------------------------------------------------------------


@pytest.mark.usefixtures("env")
def test_missing_key_is_one_line_naming_the_variables(
    llm_server: ScriptedLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPTHINK_BASE_URL", "https://llm.example.invalid/v1")
    monkeypatch.delenv("DEEPTHINK_API_KEY")

    code, out, err = deepthink(capsys, "explain", "a.py")

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("deepthink: no API key for https://llm.example.invalid/v1: set ")
    assert "DEEPTHINK_API_KEY or OPENAI_API_KEY" in err
    assert "provider.api_key_env" in err


def test_missing_key_names_the_configured_variable(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPTHINK_BASE_URL", "https://llm.example.invalid/v1")
    user_config = Path(env["XDG_CONFIG_HOME"]) / "deepthink" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("provider:\n  api_key_env: TEAM_LLM_KEY\n")

    code, _, err = deepthink(capsys, "explain", "a.py")

    assert code == 2
    assert err.count("\n") == 1
    assert "set TEAM_LLM_KEY (named by provider.api_key_env)" in err
    assert "test-key" not in err  # DEEPTHINK_API_KEY is set, but it is not the named one


@pytest.mark.usefixtures("env")
def test_local_endpoint_needs_no_key(
    llm_server: ScriptedLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DEEPTHINK_API_KEY")
    scenarios.script_run(llm_server, 1)

    code, _, _ = deepthink(capsys, "explain", "a.py", "--agents", "1")

    assert code == 0


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        ("extra.yaml", "orchestrator:\n  parallel_agents: many\n", "orchestrator.parallel_agents"),
        ("extra.yaml", "provider:\n  api_key: sk-secret\n", "provider.api_key"),
        ("extra.yaml", "provider: [unclosed\n", "not valid YAML"),
        (".deepthink.yaml", "agent:\n  max_iteration: 3\n", "did you mean 'max_iterations'"),
        (".deepthink.yaml", "agent:\n  tools: [read_file, teleport]\n", "teleport"),
        (".deepthink.yaml", "provider:\n  base_url: http://x.example/v1\n", "untrusted"),
    ],
)
@pytest.mark.usefixtures("env")
def test_malformed_config_names_file_and_key(
    llm_server: ScriptedLLMServer,
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    text: str,
    expected: str,
) -> None:
    (workspace / file).write_text(text)
    argv = ["explain", "a.py"] + (["--config", file] if file == "extra.yaml" else [])

    code, out, err = deepthink(capsys, *argv)

    assert code == 2
    assert out == ""
    assert expected in err
    assert "sk-secret" not in err
    if "tools" not in text:  # unknown tools are found when the tools are built, not loaded
        assert file in err
    assert llm_server.requests == []


@pytest.mark.usefixtures("env")
def test_missing_config_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = deepthink(capsys, "explain", "a.py", "--config", "nowhere.yaml")

    assert code == 2
    assert err == "deepthink: --config nowhere.yaml: no such file\n"


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
@pytest.mark.usefixtures("env")
def test_unreachable_endpoint_fails_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    quiet: list[str],
) -> None:
    with socket.socket() as probe:  # a port that was just free and now has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DEEPTHINK_BASE_URL", f"http://127.0.0.1:{port}/v1")
    (workspace / ".deepthink.yaml").write_text("provider:\n  max_retries: 0\n")

    code, out, err = deepthink(capsys, "explain", "a.py", *quiet)

    assert code == 1
    assert out == ""
    errors = err.splitlines() if quiet else [line for line in err.splitlines() if "error" in line]
    assert errors == [
        f"deepthink: error: cannot reach http://127.0.0.1:{port}/v1: "
        "check that the server is running, or set provider.base_url (or DEEPTHINK_BASE_URL)"
    ]


@pytest.mark.usefixtures("env")
def test_partial_result_exits_zero_with_warnings(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm_server.add(
        lambda body: scenarios.is_agent(body) and scenarios.agent_number(body) == 2,
        Reply(status=400, error_message="context too long"),
    )
    scenarios.script_run(llm_server, 2, synthesis=SYNTHESIS)

    code, out, err = deepthink(capsys, "explain", "a.py", "--agents", "2")

    assert code == 0
    assert out.strip() == SYNTHESIS
    assert "deepthink: warning: agent 2 (role 2): " in err
    assert "context too long" in err
    assert "partial in" in err


@pytest.mark.usefixtures("env")
def test_timeout_option_limits_each_agent(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm_server.add(
        lambda body: scenarios.is_agent(body) and scenarios.agent_number(body) == 2,
        Reply(content="too slow", delay=30),
    )
    scenarios.script_run(llm_server, 2, synthesis=SYNTHESIS)

    code, out, err = deepthink(capsys, "explain", "a.py", "--agents", "2", "--timeout", "0.5")

    assert code == 0
    assert out.strip() == SYNTHESIS
    assert "agent 2/2 (role 2, gpt-4o-mini): timed out" in err
    warning = (
        "deepthink: warning: agent 2 (role 2): stopped after 0.5 s (orchestrator.task_timeout)"
    )
    assert warning in err


@pytest.mark.usefixtures("env")
def test_run_where_every_agent_fails_exits_one(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm_server.add(scenarios.is_agent, Reply(status=400, error_message="model overloaded"))

    code, out, err = deepthink(capsys, "explain", "a.py", "--agents", "2")

    assert code == 1
    assert out == ""
    assert err.count("deepthink: error: agent") == 2


@pytest.mark.usefixtures("env")
def test_whole_file_selection_is_cut_to_the_context_budget(
    llm_server: ScriptedLLMServer, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [f"value_{n} = {n}  # a line long enough to add up" for n in range(1, 2001)]
    (workspace / "big.py").write_text("\n".join(lines) + "\n")
    (workspace / ".deepthink.yaml").write_text("context:\n  max_tokens: 500\n")
    scenarios.script_run(llm_server, 1)

    code, _, _ = deepthink(capsys, "explain", "big.py", "--agents", "1")

    assert code == 0
    text = chat_requests(llm_server)[0].messages_text
    assert "big.py:1-2000" in text
    assert "value_1 = 1" in text
    assert "value_1999 = 1999" not in text
    assert "selected lines not shown: over the context budget of 500 tokens" in text


# --- FILE[:START-END] -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("a.py", Target(Path("a.py"))),
        ("a.py:3", Target(Path("a.py"), 3, 3)),
        ("src/a.py:2-4", Target(Path("src/a.py"), 2, 4)),
        ("a:b.py:7-7", Target(Path("a:b.py"), 7, 7)),
    ],
)
def test_parse_target(spec: str, expected: Target) -> None:
    assert parse_target(spec) == expected


def test_parse_target_keeps_an_existing_file_whose_name_looks_like_a_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes:12").write_text("text\n")

    assert parse_target("notes:12") == Target(Path("notes:12"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a.py:0", "a.py:0: lines are numbered from 1"),
        ("a.py:4-2", "a.py:4-2: the range ends (2) before it starts (4)"),
        ("a.py:x", "a.py:x: bad line range 'x': expected FILE:START-END or FILE:LINE"),
        ("a.py:", "a.py:: bad line range ''"),
        ("a.py:2-", "a.py:2-: bad line range '2-'"),
        (":3", ":3: no FILE before ':3'"),
        ("a.py:2-99", "a.py has 5 lines; lines 2-99 run past the end"),
        ("missing.py", "missing.py: no such file"),
        ("missing.py:2", "missing.py:2: no such file"),
        ("image.png", "image.png: a binary file"),
        ("empty.py", "empty.py: the file is empty"),
        ("sub", "sub: is a directory, not a file"),
    ],
)
@pytest.mark.usefixtures("env")
def test_bad_file_specs_are_usage_errors(
    llm_server: ScriptedLLMServer,
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    spec: str,
    message: str,
) -> None:
    (workspace / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    (workspace / "empty.py").write_text("")
    (workspace / "sub").mkdir()

    code, out, err = deepthink(capsys, "review", spec)

    assert code == 2
    assert out == ""
    assert err.startswith(f"deepthink: {message}")
    assert err.count("\n") == 1
    assert llm_server.requests == []


@pytest.mark.usefixtures("env")
def test_file_outside_an_explicit_workspace_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    code, _, err = deepthink(capsys, "explain", "a.py", "--workspace", str(elsewhere))

    assert code == 2
    assert "is outside the workspace" in err


def test_usage_errors_from_argparse_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "a.py"]) == 2
    assert "the following arguments are required: question" in capsys.readouterr().err
    assert main(["--help"]) == 0


# --- progress displays ----------------------------------------------------------------------


def test_live_table_shows_each_agent() -> None:
    snapshot = Snapshot(
        Phase.RUNNING,
        (
            AgentStatus(
                0, "research", "gpt-4o", AgentState.DONE, tokens=1234, started=1.0, finished=4.5
            ),
            AgentStatus(
                1,
                "analysis",
                "llama3",
                AgentState.RUNNING,
                step="read_file (step 2)",
                tokens=56,
                started=2.0,
            ),
            AgentStatus(
                2,
                "verification",
                "gpt-4o",
                AgentState.FAILED,
                error="HTTP 500",
                started=2.0,
                finished=3.0,
            ),
        ),
    )
    console = Console(file=io.StringIO(), width=120, record=True)

    console.print(render_progress(snapshot, now=10.0, cancelling=False))
    text = console.export_text()
    console.print(render_progress(snapshot, now=10.0, cancelling=True))
    cancelling = console.export_text()

    assert "running: 1 done, 1 running, 1 failed" in text
    assert "63%" in text  # decomposition 10 + two thirds of the agents' 80
    rows = [" ".join(line.split()) for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert rows == [
        "1 research gpt-4o done 1,234 3.5 s",
        "2 analysis llama3 running read_file (step 2) 56 8.0 s",
        "3 verification gpt-4o failed HTTP 500 0 1.0 s",
    ]
    assert "cancelling" in cancelling


def test_state_lines_report_phases_and_finished_agents() -> None:
    running = Snapshot(
        Phase.RUNNING,
        (AgentStatus(0, "research", "m"), AgentStatus(1, "analysis", "m", AgentState.RUNNING)),
    )
    one_failed = Snapshot(
        Phase.RUNNING,
        (
            AgentStatus(0, "research", "m", AgentState.TIMED_OUT, error=TIMED_OUT),
            AgentStatus(1, "analysis", "m", AgentState.RUNNING, step="search (step 1)"),
        ),
    )

    assert state_changes(None, Snapshot(Phase.DECOMPOSING, ())) == ["decomposing the request"]
    assert state_changes(Snapshot(Phase.DECOMPOSING, ()), running) == ["running 2 agents"]
    assert state_changes(running, one_failed) == [
        f"agent 1/2 (research, m): timed out: {TIMED_OUT}"
    ]
    assert state_changes(one_failed, one_failed) == []
    # An agent done while the plan still streams in: how many will come is not known yet.
    early = Snapshot(Phase.DECOMPOSING, (AgentStatus(0, "research", "m", AgentState.DONE),))
    assert state_changes(Snapshot(Phase.DECOMPOSING, ()), early)[0].startswith(
        "agent 1 (research, m): done"
    )
    # A run whose requests all wait for other jobs' turns at the endpoint says so, once.
    queued = dataclasses.replace(running, waiting=1)
    assert state_changes(running, queued) == [
        "waiting for the endpoint: other requests hold its turns"
    ]
    assert state_changes(queued, dataclasses.replace(queued, waiting=2)) == []
    assert state_changes(queued, dataclasses.replace(queued, sending=1)) == []


# --- the real console entry, as a separate process ------------------------------------------


def test_console_entry_runs_end_to_end(
    llm_server: ScriptedLLMServer, env: dict[str, str], workspace: Path
) -> None:
    scenarios.script_run(llm_server, 2, synthesis=SYNTHESIS)

    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "explain", "a.py:1-2", "--agents", "2"],
        cwd=workspace,
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == SYNTHESIS
    # "agent 2/2 (…)", or "agent 2 (…)" when it finished before the plan had streamed in whole.
    assert re.search(r"deepthink: agent 2(/2)? \(role 2, gpt-4o-mini\): done", done.stderr)
    assert "test-key" not in done.stdout + done.stderr
    assert len(agent_requests(llm_server)) == 2


def test_ctrl_c_cancels_and_prints_the_finished_answers(
    llm_server: ScriptedLLMServer, env: dict[str, str], workspace: Path
) -> None:
    llm_server.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm_server.add(
        lambda body: scenarios.is_agent(body) and scenarios.agent_number(body) == 1,
        Reply(content="Agent one: it divides by zero at `a.py:2`."),
    )
    llm_server.add(scenarios.is_agent, Reply(content="too late", delay=60))
    llm_server.add(scenarios.SYNTHESIS, Reply(content="no synthesis after a cancel"))
    process = start_deepthink(["explain", "a.py", "--agents", "2"], workspace, env)
    assert process.stdout is not None and process.stderr is not None
    with killed_on_failure(process):
        stderr = LineReader(process.stderr)
        # Agent 1 may be done before the plan has streamed in whole ("agent 1 (…)", not
        # "agent 1/2 (…)"); agent 2 is stuck either way.
        stderr.wait_for("(role 1, gpt-4o-mini): done")
        assert len(llm_server.wait_for_requests(3)) == 3

        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        stdout = process.stdout.read()

    assert code == 130
    assert "**Cancelled** before the synthesis" in stdout
    assert "Agent one: it divides by zero" in stdout
    assert "cancelling" in stderr.rest()
    assert "agent 2/2 (role 2, gpt-4o-mini): cancelled" in stderr.rest()
    settled = llm_server.wait_settled()
    assert len(settled) == 3  # no synthesis, nothing after the cancel
    stuck = [
        r for r in settled if scenarios.is_agent(r.body) and scenarios.agent_number(r.body) == 2
    ]
    assert [r.aborted for r in stuck] == [True]


def test_live_display_on_a_terminal(
    llm_server: ScriptedLLMServer, env: dict[str, str], workspace: Path
) -> None:
    import pty  # POSIX only

    scenarios.script_run(llm_server, 2, synthesis=SYNTHESIS)
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "explain", "a.py", "--agents", "2"],
        cwd=workspace,
        env=subprocess_env(env),
        stdout=out_slave,
        stderr=err_slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(out_slave)
    os.close(err_slave)
    with killed_on_failure(process):
        readers = [_read_all_in_background(fd) for fd in (out_master, err_master)]
        code = process.wait(timeout=60)
        stdout, stderr = (reader() for reader in readers)

    assert code == 0
    assert "Summary" in stdout and "## Summary" not in stdout  # rendered as markdown
    assert "\x1b[" in stderr  # drawn in place, with colour
    for expected in ("role 1", "role 2", "gpt-4o-mini", "done: 2 done", "100%", "elapsed"):
        assert expected in stderr


def _read_all_in_background(fd: int) -> Callable[[], str]:
    """Drain a pty master so the child never blocks on it; the result waits for its end."""
    chunks: list[bytes] = []

    def pump() -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: every slave end is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(fd)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()

    def result() -> str:
        thread.join(timeout=10)
        return b"".join(chunks).decode("utf-8", errors="replace")

    return result


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just a file of text" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["not a database", "damaged"],
)
def test_cache_clear_recovers_an_unreadable_database(
    content: bytes,
    env: dict[str, str],
    llm_server: ScriptedLLMServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = Path(env["XDG_CACHE_HOME"]) / "deepthink" / "results.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    scenarios.script_run(llm_server, 1, synthesis=SYNTHESIS)

    code, out, err = deepthink(capsys, "explain", "a.py:2", "--agents", "1")
    assert (code, out.strip()) == (0, SYNTHESIS)
    assert "result cache unavailable" in err and "`deepthink cache clear` replaces it" in err

    code, out, _ = deepthink(capsys, "cache", "clear")
    assert code == 0
    assert out.startswith(f"removed the result cache {path}, which could not be read")
    code, out, _ = deepthink(capsys, "cache", "clear")
    assert (code, out.strip()) == (0, f"removed 0 cached result(s) from {path}")


@pytest.fixture
def quitting_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed tool plugin whose module raises SystemExit(3) when imported."""
    site = tmp_path / "site"
    (site / "deepthink_quitter-1.0.dist-info").mkdir(parents=True)
    (site / "deepthink_quitter.py").write_text("raise SystemExit(3)\n")
    (site / "deepthink_quitter-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: deepthink-quitter\n"
    )
    (site / "deepthink_quitter-1.0.dist-info" / "entry_points.txt").write_text(
        "[deepthink.tools]\nquitter = deepthink_quitter:Quitter\n"
    )
    monkeypatch.syspath_prepend(site)
    discover_tools.cache_clear()
    yield
    discover_tools.cache_clear()


@pytest.mark.usefixtures("env", "quitting_plugin")
def test_a_plugin_that_exits_at_import_is_skipped_with_a_warning(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios.script_run(llm_server, 1, synthesis=SYNTHESIS)

    code, out, err = deepthink(capsys, "explain", "a.py:2", "--agents", "1", "--no-cache")

    assert (code, out.strip()) == (0, SYNTHESIS)
    assert (
        "deepthink: warning: tool plugin 'quitter' (deepthink_quitter:Quitter) failed to load; "
        "skipping it (SystemExit: 3)\n"
    ) in err


@pytest.mark.usefixtures("env")
def test_the_strategy_option_chooses_one_call(
    llm_server: ScriptedLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    block = [{"path": "a.py", "line": 2, "message": "b may be zero", "quote": "return a / b"}]
    llm_server.add(
        "expert engineer answering",  # in prompts.SINGLE_SYSTEM
        Reply(content="It divides by b unchecked." + scenarios.findings_block(block)),
    )

    code, out, _ = deepthink(capsys, "review", "a.py:2", "--strategy", "single", "--json")

    assert code == 0
    data = json.loads(out)
    assert data["status"] == "done" and data["agents"] == []
    assert [f["start_line"] for f in data["findings"]] == [2]
    assert len(chat_requests(llm_server)) == 1
