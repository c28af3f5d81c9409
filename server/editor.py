"""What job code may ask of the editor on the other end: a narrow face of the server.

Delivery and the job lifecycle take these instead of the whole server, so that they say
what they use and can be read without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from lsprotocol import types
from pygls.workspace import TextDocument

from server.results import DiagnosticStore, FinishedResults, HoverStore


class Editor(Protocol):
    def open_document(self, uri: str) -> TextDocument | None:
        """The document as the editor has it open, or None when it is not open."""

    def show(self, kind: types.MessageType, message: str) -> None: ...

    def log(self, kind: types.MessageType, message: str) -> None: ...

    def publish_diagnostics(self, uris: Iterable[str]) -> None:
        """Send the stored diagnostics of these documents."""

    async def apply_edit(self, edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult: ...

    def columns(self, line: str) -> int:
        """How many columns the line has in the client's position encoding."""

    @property
    def supports_document_changes(self) -> bool:
        """Versioned edits: an editor whose document moved on refuses them."""


@dataclass
class Results:
    """Finished results the server keeps for the editor."""

    hovers: HoverStore = field(default_factory=HoverStore)
    diagnostics: DiagnosticStore = field(default_factory=DiagnosticStore)
    finished: FinishedResults = field(default_factory=FinishedResults)
