"""The result cache and workspace trust."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cache import ResultCache, cache_key
from orchestrator.config import Config, ConfigError, load_config, resolve_api_key, user_config_path
from orchestrator.engine import Orchestrator
from orchestrator.request import Mode, Request
from orchestrator.result import RunResult, RunStatus
from orchestrator.workspace import Workspace
from tests import scenarios
from tests.llm_server import Reply, ScriptedLLMServer, ToolCall

REQUEST = Request(Mode.EXPLAIN, "a.py", "return a / b", 2, 2)


def test_repeated_request_is_answered_from_the_cache(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator], tmp_path: Path
) -> None:
    scenarios.script_run(llm_server, 4)
    orchestrator = make_orchestrator()
    orchestrator.cache = ResultCache(tmp_path / "cache.sqlite3")

    first = orchestrator.run(REQUEST)
    sent = len(llm_server.requests)
    second = orchestrator.run(REQUEST)

    assert (first.cached, second.cached) == (False, True)
    assert second.markdown == first.markdown and second.agents == first.agents
    assert len(llm_server.requests) == sent, "no request for a cached answer"
    orchestrator.run(Request(Mode.REVIEW, "a.py", "return a / b", 2, 2))
    assert len(llm_server.requests) > sent, "another mode is another question"
    assert "test-key" not in (tmp_path / "cache.sqlite3").read_bytes().decode("latin-1")


def test_failed_and_partial_results_are_not_cached(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator], tmp_path: Path
) -> None:
    llm_server.add(scenarios.SYNTHESIS, Reply(status=500), times=1)
    scenarios.script_run(llm_server, 4)
    orchestrator = make_orchestrator()
    orchestrator.cache = ResultCache(tmp_path / "cache.sqlite3")
    assert orchestrator.run(REQUEST).status is RunStatus.PARTIAL
    again = orchestrator.run(REQUEST)
    assert (again.status, again.cached) == (RunStatus.DONE, False)


def test_key_depends_on_model_request_and_workspace(tmp_path: Path) -> None:
    config = Config()
    other_model = Config.model_validate({"provider": {"model": "other"}})
    assert cache_key(REQUEST, config, tmp_path) == cache_key(REQUEST, Config(), tmp_path)
    assert cache_key(REQUEST, config, tmp_path) != cache_key(REQUEST, other_model, tmp_path)
    moved = Request(Mode.EXPLAIN, "a.py", "return a / b", 3, 3)
    assert cache_key(REQUEST, config, tmp_path) != cache_key(moved, config, tmp_path)
    assert cache_key(REQUEST, config, tmp_path) != cache_key(REQUEST, config, tmp_path / "other")


def script_reading_run(llm: ScriptedLLMServer) -> None:
    """One agent that reads helper.py, then answers."""
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(1)))

    def agent(body: dict[str, Any]) -> Reply:
        if not any(m["role"] == "tool" for m in body["messages"]):
            return Reply(tool_calls=[ToolCall("read_file", {"path": "helper.py"})])
        return Reply(content="It uses the helper.")

    llm.add(scenarios.is_agent, agent)
    llm.add(scenarios.SYNTHESIS, Reply(content="It uses the helper, which returns a constant."))


def test_a_cached_result_is_reused_only_while_what_its_agents_read_is_unchanged(
    llm_server: ScriptedLLMServer,
    make_orchestrator: Callable[..., Orchestrator],
    workspace: Path,
    tmp_path: Path,
) -> None:
    script_reading_run(llm_server)
    (workspace / "helper.py").write_text("def helper():\n    return 1\n")
    orchestrator = make_orchestrator(orchestrator={"parallel_agents": 1})
    orchestrator.cache = ResultCache(tmp_path / "cache.sqlite3")

    first = orchestrator.run(REQUEST)
    assert orchestrator.run(REQUEST).cached
    (workspace / "helper.py").write_text("def helper():\n    return 2\n")
    after_edit = orchestrator.run(REQUEST)

    assert [r.tool for r in first.agents[0].reads] == ["read_file"]
    assert not after_edit.cached
    assert orchestrator.run(REQUEST).cached


def test_the_same_code_in_another_workspace_is_not_answered_from_the_cache(
    llm_server: ScriptedLLMServer,
    make_orchestrator: Callable[..., Orchestrator],
    workspace: Path,
    tmp_path: Path,
) -> None:
    script_reading_run(llm_server)
    (workspace / "helper.py").write_text("def helper():\n    return 1\n")
    other = tmp_path / "other"
    shutil.copytree(workspace, other)
    cache = ResultCache(tmp_path / "cache.sqlite3")
    here = make_orchestrator(orchestrator={"parallel_agents": 1})
    there = Orchestrator(here.config, Workspace(other), here.llm, cache)
    here.cache = cache

    here.run(REQUEST)

    assert not there.run(REQUEST).cached


def test_a_crash_mid_write_loses_nothing_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    child = textwrap.dedent(
        f"""
        import os, signal
        from orchestrator.cache import ResultCache
        from orchestrator.result import RunResult, RunStatus
        from pathlib import Path
        cache = ResultCache(Path({str(path)!r}))
        cache.put("kept", RunResult(RunStatus.DONE, "stored before the crash"))
        cache._db.execute("BEGIN")
        cache._db.execute("INSERT INTO results VALUES ('lost', 0, 'half')")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    crashed = subprocess.run([sys.executable, "-c", child], check=False)
    assert crashed.returncode == -9
    cache = ResultCache(path)
    kept = cache.get("kept")
    assert kept is not None and kept.markdown == "stored before the crash" and kept.cached
    assert cache.get("lost") is None
    assert cache.clear() == 1
    assert cache.get("kept") is None


def test_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache.sqlite3")
    cache._db.execute("INSERT INTO results VALUES ('old', 0, '{\"format\": 0}')")
    assert cache.get("old") is None
    cache.put("new", RunResult(RunStatus.DONE, "x"))
    assert cache.get("new") is not None


def foreign_table(path: Path) -> None:
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE results (id INTEGER, payload BLOB)")
        other.execute("INSERT INTO results VALUES (1, x'00')")


def test_a_cache_of_another_shape_costs_a_warning_not_the_result(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator], tmp_path: Path
) -> None:
    scenarios.script_run(llm_server, 2)
    path = tmp_path / "cache.sqlite3"
    foreign_table(path)
    orchestrator = make_orchestrator(orchestrator={"parallel_agents": 2})
    orchestrator.cache = ResultCache(path)

    result = orchestrator.run(REQUEST)

    assert (result.status, result.markdown) == (RunStatus.DONE, scenarios.SYNTHESIS_TEXT)
    assert len(result.failures) == 1
    assert result.failures[0].startswith(f"could not read the result cache {path}: no such column")


def test_a_cache_locked_by_another_process_costs_a_warning_not_the_result(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator], tmp_path: Path
) -> None:
    scenarios.script_run(llm_server, 2)
    path = tmp_path / "cache.sqlite3"
    orchestrator = make_orchestrator(orchestrator={"parallel_agents": 2})
    orchestrator.cache = ResultCache(path, busy_timeout=0.1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = orchestrator.run(REQUEST)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert (result.status, result.markdown) == (RunStatus.DONE, scenarios.SYNTHESIS_TEXT)
    assert ["database is locked" in failure for failure in result.failures] == [True]


def test_a_full_disk_costs_a_warning_not_the_result(
    llm_server: ScriptedLLMServer, make_orchestrator: Callable[..., Orchestrator], tmp_path: Path
) -> None:
    synthesis = "A long answer. " * 2000  # more than the pages the database has
    scenarios.script_run(llm_server, 2, synthesis=synthesis)
    orchestrator = make_orchestrator(orchestrator={"parallel_agents": 2})
    orchestrator.cache = cache = ResultCache(tmp_path / "cache.sqlite3")
    # SQLite's own page limit stands in for a full disk: the write fails the same way.
    (pages,) = cache._db.execute("PRAGMA page_count").fetchone()
    cache._db.execute(f"PRAGMA max_page_count = {pages}")

    result = orchestrator.run(REQUEST)

    assert (result.status, result.markdown) == (RunStatus.DONE, synthesis.strip())
    assert ["database or disk is full" in failure for failure in result.failures] == [True]


def test_clear_replaces_a_table_of_another_shape(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    foreign_table(path)
    cache = ResultCache(path)
    assert cache.clear() == 1
    cache.put("new", RunResult(RunStatus.DONE, "x"))
    assert cache.get("new") is not None


@pytest.mark.parametrize("key", ["base_url: http://evil.example/v1", "api_key_env: HOME"])
def test_untrusted_workspace_cannot_redirect_the_key(tmp_path: Path, key: str) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    (workspace / ".deepthink.yaml").write_text(f"provider:\n  {key}\n")
    user = tmp_path / "user.yaml"
    with pytest.raises(ConfigError, match="untrusted workspace may not choose") as error:
        load_config(workspace, user_file=user, env={})
    assert str(workspace / ".deepthink.yaml") in str(error.value)
    assert "trust.workspaces" in str(error.value)
    assert f"put this setting in your own config ({user_config_path()})" in str(error.value)

    user.write_text(f"trust:\n  workspaces: [{workspace}]\n")
    config = load_config(workspace, user_file=user, env={})
    name, value = key.split(": ")
    assert getattr(config.provider, name) == value


def test_untrusted_workspace_cannot_let_agents_read_secrets(tmp_path: Path) -> None:
    (tmp_path / ".deepthink.yaml").write_text("agent:\n  allow_paths: ['.env']\n")
    with pytest.raises(
        ConfigError, match=r"agent\.allow_paths: an untrusted workspace may not let agents read"
    ):
        load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    (tmp_path / ".deepthink.yaml").write_text("agent:\n  deny_paths: ['*.sql']\n")
    config = load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    assert config.agent.deny_paths == ["*.sql"]


@pytest.mark.parametrize(
    "url", ["http://localhost:11434/v1", "http://127.0.0.1:8080/v1", "http://[::1]:8000/v1"]
)
def test_untrusted_workspace_may_choose_a_loopback_endpoint_which_gets_no_key(
    tmp_path: Path, url: str
) -> None:
    (tmp_path / ".deepthink.yaml").write_text(f"provider:\n  base_url: {url}\n")
    env = {"DEEPTHINK_API_KEY": "sk-user-key"}

    config = load_config(tmp_path, user_file=tmp_path / "none.yaml", env=env)

    assert config.provider.base_url == url.rstrip("/")
    assert not config.provider.send_key
    assert resolve_api_key(config, env) is None
    # The user's own choice of the same endpoint, later in the layers, sends the key as usual.
    user = tmp_path / "user.yaml"
    user.write_text(f"provider:\n  base_url: {url}\n")
    assert resolve_api_key(load_config(tmp_path / "elsewhere", user_file=user, env=env), env)


def test_a_loopback_workspace_endpoint_moved_elsewhere_by_the_environment_gets_the_key(
    tmp_path: Path,
) -> None:
    (tmp_path / ".deepthink.yaml").write_text("provider:\n  base_url: http://localhost:1/v1\n")
    env = {"DEEPTHINK_API_KEY": "sk-user-key", "DEEPTHINK_BASE_URL": "https://api.example/v1"}
    config = load_config(tmp_path, user_file=tmp_path / "none.yaml", env=env)
    assert resolve_api_key(config, env) == "sk-user-key"


def test_untrusted_workspace_may_tune_agents(tmp_path: Path) -> None:
    (tmp_path / ".deepthink.yaml").write_text(
        "provider:\n  model: local-model\norchestrator:\n  parallel_agents: 2\n"
        "  task_timeout: 30\ncouncil:\n  models: [a, b]\n"
    )
    config = load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    assert (config.provider.model, config.orchestrator.parallel_agents) == ("local-model", 2)


def test_workspace_cannot_trust_itself(tmp_path: Path) -> None:
    (tmp_path / ".deepthink.yaml").write_text(f"trust:\n  workspaces: [{tmp_path}]\n")
    with pytest.raises(ConfigError, match="only your own config file"):
        load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
