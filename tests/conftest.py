"""Fixtures shared by every test: the scripted LLM server, a small workspace, a CLI user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import Config, validate
from orchestrator.engine import Orchestrator
from orchestrator.llm import LLMClient
from orchestrator.workspace import Workspace
from tests.llm_server import ScriptedLLMServer

SAMPLE = "def divide(a, b):\n    return a / b\n\n\nprint(divide(1, 0))\n"


@pytest.fixture
def llm_server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.py").write_text(SAMPLE)
    return root


@pytest.fixture
def env(
    llm_server: ScriptedLLMServer,
    workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """A user of `deepthink` in the workspace, pointing at the scripted server.

    No real config leaks in: neither the user's (HOME, XDG_*), nor a project's (the
    workspace holds none), nor the variables a user may have set.
    """
    values = {
        "DEEPTHINK_BASE_URL": llm_server.base_url,
        "DEEPTHINK_API_KEY": "test-key",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        # The workspace must not be taken for part of a repository that holds tmp_path.
        "GIT_CEILING_DIRECTORIES": str(tmp_path),
    }
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPTHINK_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(workspace)
    return values


@pytest.fixture
def make_orchestrator(
    llm_server: ScriptedLLMServer, workspace: Path
) -> Iterator[Callable[..., Orchestrator]]:
    """Build an orchestrator on the scripted server; sections override the defaults."""
    clients: list[LLMClient] = []

    def make(**sections: dict[str, Any]) -> Orchestrator:
        provider = {"base_url": llm_server.base_url, "model": "scripted-model", "max_retries": 0}
        provider.update(sections.pop("provider", {}))
        config: Config = validate({"provider": provider, **sections}, "test")
        client = LLMClient(config.provider, "test-key")
        clients.append(client)
        return Orchestrator(config, Workspace(workspace), client)

    yield make
    for client in clients:
        client.close()
