"""Markdown as plain text that reads well inside a code comment.

Headings become labelled lines, lists keep their markers, links keep their text, code
keeps its lines, and prose is re-flowed to the width. Nothing of markdown's own syntax
(`##`, `**`, `[…](…)`) is left for the reader to decode.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

_CODE_INDENT = "    "
_TERMINAL_PUNCTUATION = (".", ":", "?", "!", ";")


def plain_text(markdown: str, width: int) -> list[str]:
    """The markdown as lines of at most `width` columns (code and table rows excepted)."""
    parser = MarkdownIt("commonmark").enable("table")
    parser.validateLink = _any_link  # type: ignore[method-assign]  # file:// citations too
    writer = _Writer(width)
    # Every line break Python knows (U+2028 too, which ends a line comment in JavaScript)
    # becomes one markdown knows, so that none is left inside a line of the comment.
    writer.blocks(parser.parse("\n".join(markdown.splitlines())))
    while writer.lines and not writer.lines[-1]:
        writer.lines.pop()
    return writer.lines


def _any_link(url: str) -> bool:
    return True


@dataclass
class _ListLevel:
    ordered: bool
    number: int
    width: int = 2  # of the current item's marker: its text lines up after it


@dataclass
class _Writer:
    width: int
    lines: list[str] = field(default_factory=list)
    _lists: list[_ListLevel] = field(default_factory=list)
    _marker: str = ""  # the list marker the next line of text starts with
    _quote: int = 0

    def blocks(self, tokens: Sequence[Token]) -> None:
        row: list[str] | None = None  # the cells of a table row being read
        heading = headed = False  # in a heading; just after one
        for token in tokens:
            kind = token.type
            # A hidden paragraph is an item of a tight list; a heading's text follows it.
            starts_text = kind == "heading_open" or (kind == "paragraph_open" and not token.hidden)
            if starts_text and not headed:
                self._blank()
            if token.nesting == 1 or (token.block and token.nesting == 0):
                headed = False  # a block starts: only the first one after a heading joins it
            if kind == "heading_open":
                heading = True
            elif kind == "heading_close":
                heading, headed = False, True
            elif kind == "inline" and row is not None:
                row.append(_inline(token.children or []))
            elif kind == "inline":
                self._text(_inline(token.children or []), heading)
            elif kind in ("bullet_list_open", "ordered_list_open"):
                if not self._lists:
                    self._blank()
                start = int(token.attrGet("start") or 1)
                self._lists.append(_ListLevel(kind == "ordered_list_open", start))
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self._lists.pop()
            elif kind == "list_item_open":
                level = self._lists[-1]
                self._marker = f"{level.number}. " if level.ordered else "- "
                level.number += 1
                level.width = len(self._marker)
            elif kind in ("fence", "code_block"):
                self._code(token.content)
            elif kind == "html_block":
                self._code(token.content, indent="")
            elif kind == "blockquote_open":
                self._quote += 1
            elif kind == "blockquote_close":
                self._quote -= 1
            elif kind == "table_open":
                self._blank()
            elif kind == "tr_open":
                row = []
            elif kind == "tr_close" and row is not None:
                self.lines.append(self._indent() + " | ".join(row))
                row = None

    def _indent(self) -> str:
        # Text in a list item lines up after its marker ("- " or "1. ").
        return "  " * self._quote + "".join(" " * level.width for level in self._lists)

    def _blank(self) -> None:
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def _text(self, text: str, heading: bool) -> None:
        if heading and not text.endswith(_TERMINAL_PUNCTUATION):
            text += ":"
        indent = self._indent()
        first = indent[: len(indent) - len(self._marker)] + self._marker if self._marker else indent
        for paragraph in text.split("\n"):
            self.lines += textwrap.wrap(
                paragraph,
                width=self.width,
                initial_indent=first,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            ) or [first.rstrip()]
            first = indent
        self._marker = ""

    def _code(self, content: str, indent: str = _CODE_INDENT) -> None:
        self._blank()
        prefix = self._indent() + indent
        self.lines += [(prefix + line).rstrip() for line in content.rstrip("\n").split("\n")]
        self.lines.append("")


def _inline(children: Sequence[Token]) -> str:
    """The inline's text: emphasis markers dropped, code kept in backticks, links as their
    text (with the address when it is a web page the text does not already name)."""
    out: list[str] = []
    href: str | None = None
    link_start = 0
    for child in children:
        kind = child.type
        if kind in ("text", "html_inline"):
            out.append(child.content)
        elif kind == "code_inline":
            out.append(f"`{child.content}`")
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "link_open":
            href, link_start = str(child.attrGet("href") or ""), len(out)
        elif kind == "link_close" and href is not None:
            text = "".join(out[link_start:])
            if href.startswith(("http://", "https://")) and href not in text:
                out.append(f" ({href})")
            href = None
        elif kind == "image":
            out.append(child.content or str(child.attrGet("alt") or ""))
    return "".join(out).strip()
