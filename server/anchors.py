"""Where a block of lines is now: follow it through edits, or find it again by its text.

Results (hovers, diagnostics, the inserted comment) belong to the code they were computed
for, not to line numbers: while a job runs or after it finished, the user keeps editing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from lsprotocol import types

from orchestrator.context import LINE_BREAK, split_lines


def line_break_of(text: str) -> str:
    """The document's line break, so that inserted text matches it.

    A lone `\r` only in a document without `\n`: inserted lines ending in `\r` above an
    empty line ending in `\n` would make one `\r\n` of the two breaks and lose that line.
    """
    match = LINE_BREAK.search(text)
    if match is None:
        return "\n"
    if match.group() == "\r" and "\n" in text:
        return "\r\n" if "\r\n" in text else "\n"
    return match.group()


@dataclass(frozen=True)
class Anchor:
    """Whole lines of a document: the first one (0-based) and their text when anchored."""

    start: int
    lines: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("an anchor holds at least one line")

    @property
    def end(self) -> int:
        """The last line, inclusive."""
        return self.start + len(self.lines) - 1

    def moved(self, delta: int) -> Anchor:
        return Anchor(self.start + delta, self.lines)


def anchor_lines(text: str, start: int, end: int) -> Anchor:
    """The anchor for lines `start`..`end` (0-based, inclusive, clamped to the document)."""
    lines = split_lines(text)
    start = min(max(start, 0), len(lines) - 1)
    end = min(max(end, start), len(lines) - 1)
    return Anchor(start, tuple(lines[start : end + 1]))


def relocate(anchor: Anchor, text: str) -> Anchor | None:
    """Find the anchored lines in `text`, nearest to where they were; None if they are gone.

    An exact match wins; otherwise lines that differ only in surrounding whitespace
    (re-indented, trailing spaces trimmed on save) still count, and the anchor takes
    their current text.
    """
    lines = split_lines(text)
    for same in (_identical, _same_but_whitespace):
        found = _nearest_match(anchor, lines, same)
        if found is not None:
            return Anchor(found, tuple(lines[found : found + len(anchor.lines)]))
    return None


def follow(
    anchor: Anchor, changes: Sequence[types.TextDocumentContentChangeEvent], text: str
) -> Anchor | None:
    """The anchor after one `didChange`: its `changes` in order, and `text`, the result.

    The change ranges say where the lines can be now; the text says whether they are still
    there. Clients differ in how they report the same edit: inserting lines above the code
    may come as a pure insertion, as a replacement of the code's first line by the new lines
    plus that line (Neovim), or as the whole document (full-sync clients). So a change that
    touches the lines only widens where to look, and the code is found again by its text.
    """
    window = _Window(anchor.start, anchor.end)
    for change in changes:
        if isinstance(change, types.TextDocumentContentChangeWholeDocument):
            return relocate(anchor, text)
        window = window.after(change)
    return _find_in(anchor, split_lines(text), window)


@dataclass(frozen=True)
class _Window:
    """The lines (inclusive) that may hold the anchored code after the changes so far."""

    first: int
    last: int

    def after(self, change: types.TextDocumentContentChangePartial) -> _Window:
        start, end = change.range.start, change.range.end
        added = len(split_lines(change.text)) - 1
        delta = added - (end.line - start.line)
        if start.line > self.last:
            return self
        if end.line < self.first or (
            end.line == self.first and end.character == 0 and _keeps_line_start(start, change.text)
        ):
            return _Window(self.first + delta, self.last + delta)
        last = self.last + delta if end.line <= self.last else start.line + added
        return _Window(min(self.first, start.line), max(last, start.line))


def _find_in(anchor: Anchor, lines: list[str], window: _Window) -> Anchor | None:
    """The anchored lines within the window, the lowest match first (lines inserted above
    are the commonest change), exact before whitespace-only differences."""
    size = len(anchor.lines)
    starts = range(min(window.last - size + 1, len(lines) - size), window.first - 1, -1)
    for same in (_identical, _same_but_whitespace):
        for index in starts:
            if index >= 0 and all(
                same(lines[index + offset], line) for offset, line in enumerate(anchor.lines)
            ):
                return Anchor(index, tuple(lines[index : index + size]))
    return None


def _keeps_line_start(start: types.Position, text: str) -> bool:
    """After a change ending at column 0 of a line, does that line still start a line?"""
    if text:
        return text.endswith(("\n", "\r"))
    return start.character == 0


def _nearest_match(
    anchor: Anchor, lines: list[str], same: Callable[[str, str], bool]
) -> int | None:
    last = len(lines) - len(anchor.lines)
    for index in _outwards(anchor.start, last):
        if all(same(lines[index + offset], line) for offset, line in enumerate(anchor.lines)):
            return index
    return None


def _outwards(origin: int, last: int) -> Iterator[int]:
    """0..last ordered by distance from origin; on a tie the later line first, since
    text inserted above is the commonest reason for code to move."""
    origin = min(max(origin, 0), max(last, 0))
    for distance in range(max(origin, last - origin) + 1):
        for index in (origin + distance, origin - distance) if distance else (origin,):
            if 0 <= index <= last:
                yield index


def _identical(current: str, original: str) -> bool:
    return current == original


def _same_but_whitespace(current: str, original: str) -> bool:
    return current.strip() == original.strip()
