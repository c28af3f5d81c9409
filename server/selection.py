"""The code a job is about: the document as it was when the job started, and its Request."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

from orchestrator.context import review_diff_request, selection_request, split_lines
from orchestrator.request import Mode, Request
from server.anchors import Anchor, anchor_lines

DEFAULT_QUESTION = (
    "What does this code assume, what could go wrong with it, and what should a maintainer "
    "know before changing it?"
)


@dataclass(frozen=True)
class Selection:
    """A snapshot taken when the job starts: later edits do not change what the agents see."""

    uri: str
    path: Path
    root: Path
    text: str
    language_id: str
    anchor: Anchor  # the selected lines, whole
    # Every file open in the editor (path to text): agents read these instead of the disk.
    buffers: Mapping[str, str] = field(default_factory=dict)

    @property
    def relative_path(self) -> str:
        """As agents cite it: relative to the workspace root when inside it."""
        try:
            return self.path.relative_to(self.root).as_posix()
        except ValueError:
            return self.path.as_posix()


def selected_lines(selection: types.Range) -> tuple[int, int]:
    """First and last selected line (0-based, inclusive).

    A selection ending at column 0 does not include that line: selecting whole lines
    in most editors ends at the start of the next one.
    """
    start, end = selection.start, selection.end
    if (end.line, end.character) < (start.line, start.character):
        start, end = end, start
    last = end.line - 1 if end.character == 0 and end.line > start.line else end.line
    return start.line, last


def take_selection(
    uri: str,
    path: Path,
    root: Path,
    text: str,
    language_id: str,
    selection: types.Range | None,
    buffers: Mapping[str, str] | None = None,
) -> Selection:
    """The selected lines, or the whole document without a selection."""
    whole = (0, len(split_lines(text)) - 1)
    first, last = selected_lines(selection) if selection is not None else whole
    anchor = anchor_lines(text, first, last)
    return Selection(uri, path, root, text, language_id, anchor, dict(buffers or {}))


def workspace_root(path: Path, folders: Iterable[Path]) -> Path:
    """The innermost workspace folder holding the file (or folder); when none does, the
    file's directory (or the folder itself)."""
    holding = [folder for folder in folders if path.is_relative_to(folder)]
    if holding:
        return max(holding, key=lambda folder: len(folder.parts))
    return path if path.is_dir() else path.parent


def asked(mode: Mode, question: str | None) -> str | None:
    """The question an `ask` puts to the agents: the user's, or a sensible default."""
    return (question or DEFAULT_QUESTION) if mode is Mode.ASK else None


def build_request(
    selection: Selection,
    mode: Mode,
    question: str | None,
    max_tokens: int,
    diff: str | None = None,
) -> Request:
    anchor = selection.anchor
    start, end = anchor.start + 1, anchor.end + 1
    if mode is Mode.REVIEW_DIFF:
        # The diff is the subject; the selection only says where the result goes.
        return review_diff_request(
            selection.relative_path,
            well_formed(diff or ""),
            max_tokens,
            start_line=start,
            end_line=end,
        )
    question = asked(mode, question)
    return selection_request(
        mode,
        selection.relative_path,
        well_formed(selection.text),
        start,
        end,
        max_tokens,
        question=well_formed(question) if question is not None else None,
        language=selection.language_id,
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def well_formed(text: str) -> str:
    """The text with lone surrogates replaced by U+FFFD.

    A client's JSON may carry them (`"\\ud800"`), but no UTF-8 request body or cache entry
    can: the editor keeps its text as it is, the model gets the replacement character.
    """
    return _LONE_SURROGATE.sub("\ufffd", text)
