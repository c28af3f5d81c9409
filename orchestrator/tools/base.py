"""The plugin interface every agent tool implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from orchestrator.workspace import ToolError, Workspace

__all__ = ["Tool", "ToolError"]


class Tool(ABC):
    """A read-only capability an agent may call.

    Subclasses set `name`, `description` and `parameters` (a JSON schema for
    the arguments object) and implement `execute`. Tools are discovered from
    the modules of `orchestrator.tools` and from the `deepthink.tools`
    entry-point group, so a third-party package only has to register its class.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[dict[str, Any]]

    @abstractmethod
    def execute(self, workspace: Workspace, arguments: dict[str, Any]) -> str:
        """Run the tool and return text for the model; raise ToolError to refuse."""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The tool in the OpenAI chat-completions `tools` format."""
        return {
            "type": "function",
            "function": {
                "name": cls.name,
                "description": cls.description,
                "parameters": cls.parameters,
            },
        }
