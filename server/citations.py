"""Turn `path:line` citations in markdown into links that open the file at that line."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from orchestrator.grounding import CITATION as _CITATION

_BARE = re.compile(rf"(?<![\w./\-:\[]){_CITATION}")
_CODE_CITATION = re.compile(rf"{_CITATION}")
# Pieces of a line that must not be rewritten: code spans, links, autolinks and URLs.
_PROTECTED = re.compile(
    r"(?P<code>(?P<ticks>`+)(?P<inner>.+?)(?P=ticks))"
    r"|\[[^\]]*\]\([^)]*\)"
    r"|<[a-z][\w+.\-]*:[^>\s]*>"
    r"|[a-z][\w+.\-]*://\S+",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^\s*(```|~~~)")

Resolver = Callable[[str], str | None]
"""Maps a cited path to its file URI, or None when it names no file."""
_Target = Callable[[str, int], str | None]
"""Maps a citation's path and line to the URI to link, or None to leave it as text."""


def link_citations(markdown: str, resolve: Resolver, unlinked: Collection[str] = ()) -> str:
    """Link every citation whose file exists; text inside code blocks stays as it is.

    Citations in `unlinked` (`path:line` of a line the file does not have) stay text.
    """

    def target(path: str, line: int) -> str | None:
        return None if f"{path}:{line}" in unlinked else resolve(path)

    out: list[str] = []
    in_fence = False
    for line in markdown.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        out.append(line if in_fence or _FENCE.match(line) else _link_line(line, target))
    return "\n".join(out)


def line_link(uri: str, line: int) -> str:
    """A link target opening `uri` at a 1-based line; parentheses would end a markdown link."""
    return f"{uri}#L{line}".replace("(", "%28").replace(")", "%29")


def _link_line(line: str, target: _Target) -> str:
    pieces: list[str] = []
    position = 0
    for protected in _PROTECTED.finditer(line):
        pieces.append(_link_bare(line[position : protected.start()], target))
        pieces.append(_link_code_span(protected, target))
        position = protected.end()
    pieces.append(_link_bare(line[position:], target))
    return "".join(pieces)


def _link_bare(text: str, target: _Target) -> str:
    def replace(match: re.Match[str]) -> str:
        uri = target(match["path"], int(match["line"]))
        if uri is None:
            return match.group()
        return f"[{match.group()}]({line_link(uri, int(match['line']))})"

    return _BARE.sub(replace, text)


def _link_code_span(match: re.Match[str], target: _Target) -> str:
    """A code span holding nothing but a citation becomes a link showing that code."""
    if match["code"] is None:
        return match.group()
    citation = _CODE_CITATION.fullmatch(match["inner"].strip())
    if citation is None:
        return match.group()
    uri = target(citation["path"], int(citation["line"]))
    if uri is None:
        return match.group()
    return f"[{match.group()}]({line_link(uri, int(citation['line']))})"
