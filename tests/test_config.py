"""Layered configuration and its error messages."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.config import (
    ConfigError,
    Source,
    is_local_endpoint,
    load_config,
    resolve_api_key,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_source(tmp_path: Path) -> None:
    config = load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    assert config.orchestrator.parallel_agents == 4
    assert config.orchestrator.task_timeout == 300
    assert config.orchestrator.synthesis_model is None
    assert config.synthesis_model == config.provider.model
    assert config.council.models == []


def test_later_sources_win(tmp_path: Path) -> None:
    user = write(
        tmp_path / "user.yaml",
        "provider:\n  model: user-model\n  base_url: http://user/v1\n"
        "orchestrator:\n  parallel_agents: 2\n  task_timeout: 60\n",
    )
    write(tmp_path / ".deepthink.yaml", "orchestrator:\n  parallel_agents: 6\n")
    config = load_config(
        tmp_path,
        user_file=user,
        env={"DEEPTHINK_MODEL": "env-model"},
        overrides=[Source("command line", {"agent": {"max_iterations": 3}})],
    )
    assert config.provider.model == "env-model"
    assert config.provider.base_url == "http://user/v1"
    assert config.orchestrator.parallel_agents == 6
    assert config.orchestrator.task_timeout == 60
    assert config.agent.max_iterations == 3


def test_base_url_falls_back_to_openai_variable(tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": "http://openai-compatible/v1/"}
    config = load_config(None, user_file=tmp_path / "none", env=env)
    assert config.provider.base_url == "http://openai-compatible/v1"
    env["DEEPTHINK_BASE_URL"] = "http://deepthink/v1"
    assert load_config(None, user_file=tmp_path / "none", env=env).provider.base_url == (
        "http://deepthink/v1"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "orchestrator:\n  parallel_agents: many\n",
            "orchestrator.parallel_agents: expected a valid integer",
        ),
        (
            "orchestrator:\n  parallel_agents: 0\n",
            "orchestrator.parallel_agents: expected greater than or equal to 1, got 0",
        ),
        ("orchestrator:\n  paralel_agents: 3\n", "did you mean 'parallel_agents'?"),
        (
            "provider:\n  request_timeout: soon\n",
            "provider.request_timeout: expected a valid number",
        ),
        ("provider: [1, 2]\n", "provider: expected a mapping of keys"),
        ("council:\n  models: gpt-4o\n", "council.models: expected a valid list"),
        ("provider:\n  api_key: sk-secret\n", "API keys do not belong in config files"),
        (
            "orchestrator:\n  max_concurrent_agents: 1\n",
            "replaced by provider.max_concurrent_requests",
        ),
        (
            "provider:\n  max_output_tokens:\n    agents: 100\n",
            "provider.max_output_tokens.agents: unknown key (known keys: plan, agent, synthesis)",
        ),
        ("provider:\n  context_window: 100\n", "provider.context_window: expected greater"),
        ("- just\n- a list\n", "expected a mapping of sections"),
        ("provider:\n  model: [unclosed\n", "not valid YAML"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path / ".deepthink.yaml", text)
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    message = str(error.value)
    assert str(tmp_path / ".deepthink.yaml") in message
    assert expected in message
    assert "sk-secret" not in message


def test_bad_base_url_in_the_user_file(tmp_path: Path) -> None:
    user = write(tmp_path / "user.yaml", "provider:\n  base_url: localhost:11434\n")
    with pytest.raises(
        ConfigError, match=r"user.yaml: provider.base_url: expected an http\(s\) URL"
    ):
        load_config(tmp_path, user_file=user, env={})


def test_unknown_tool_names_the_file_and_the_known_tools(tmp_path: Path) -> None:
    write(tmp_path / ".deepthink.yaml", "agent:\n  tools: [read_file, rm_rf]\n")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    message = str(error.value)
    assert ".deepthink.yaml: agent.tools: expected" in message
    assert "rm_rf" in message and "read_file" in message


def test_error_in_the_environment_is_attributed_to_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^environment: provider.base_url"):
        load_config(None, user_file=tmp_path / "none", env={"DEEPTHINK_BASE_URL": "nonsense"})


def test_api_key_lookup_order(tmp_path: Path) -> None:
    config = load_config(None, user_file=tmp_path / "none", env={})
    assert resolve_api_key(config, {}) is None
    assert resolve_api_key(config, {"OPENAI_API_KEY": "o"}) == "o"
    assert resolve_api_key(config, {"OPENAI_API_KEY": "o", "DEEPTHINK_API_KEY": "d"}) == "d"
    user = write(tmp_path / "user.yaml", "provider:\n  api_key_env: OPENROUTER_API_KEY\n")
    custom = load_config(tmp_path, user_file=user, env={})
    assert resolve_api_key(custom, {"DEEPTHINK_API_KEY": "d"}) is None
    assert resolve_api_key(custom, {"OPENROUTER_API_KEY": "r"}) == "r"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://[::1]:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://openrouter.ai/api/v1", False),
    ],
)
def test_local_endpoints_need_no_key(url: str, local: bool) -> None:
    assert is_local_endpoint(url) is local


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [*{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}]\n"
    for n in range(20)
)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_text(BILLION_LAUGHS), "aliases (*name) are not allowed"),
        (lambda p: p.write_text("[" * 50_000 + "]" * 50_000), "nested more than 20 levels"),
        (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: p.write_text("# padding\n" * 30_000), "larger than 256 KiB"),
    ],
    ids=["billion laughs", "deep nesting", "/dev/zero", "fifo", "directory", "huge"],
)
def test_a_hostile_workspace_config_is_refused_quickly(
    tmp_path: Path, make: Callable[[Path], object], expected: str
) -> None:
    make(tmp_path / ".deepthink.yaml")
    with pytest.raises(ConfigError, match=re.escape(expected)) as error:
        load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    assert str(tmp_path / ".deepthink.yaml") in str(error.value)
    assert len(str(error.value)) < 1000


def test_errors_never_echo_a_huge_value(tmp_path: Path) -> None:
    keys = "".join(f"  unknown_{n}: 1\n" for n in range(500))
    write(
        tmp_path / ".deepthink.yaml",
        f"provider:\n  model: [{'x' * 100_000}]\n{keys}orchestrator:\n  {'k' * 1000}: 1\n",
    )
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, user_file=tmp_path / "none.yaml", env={})
    message = str(error.value)
    assert "provider.model: expected a valid string, got ['xxx" in message
    assert "more problems" in message
    assert len(message) < 5000
