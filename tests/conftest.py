"""Fixtures shared by every test: the scripted LLM server and a small workspace."""

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
