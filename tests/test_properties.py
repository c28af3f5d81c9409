"""Property-based tests: the inserted comment never changes the code around it and is a comment
in its language, and packed context stays faithful to the editor's lines and within budget."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator.context import CHARS_PER_TOKEN, selection_request, split_lines
from orchestrator.request import Mode
from server.anchors import anchor_lines, line_break_of
from server.comments import STYLES, CommentStyle, comment_insertion
from server.reporting import comment_heading

BREAKS = ("\n", "\r\n", "\r")
# Inside a line: code, unicode, tabs, backslashes, comment tokens of every style, and the
# characters that some languages (or str.splitlines) treat as line ends but LSP does not.
LINE_TEXT = st.lists(
    st.sampled_from(
        [
            *"ab x{}();=#'\"\t\\é中😀",
            *("*/", "/*", "-->", "<!--", "--", "]]", "--[[", "(*", "*)", "//"),
            *("\x0c", "\x0b", "\x85", "\u2028", "\x00"),
        ]
    ),
    max_size=20,
).map("".join)
# The model's answer: all of the above, plus line breaks of every kind and markdown.
MARKDOWN = st.lists(
    st.one_of(
        LINE_TEXT,
        st.sampled_from([*BREAKS, "\n\n", "- ", "```", "| a |", "# ", "\\\n", "word " * 30]),
    ),
    max_size=12,
).map("".join)
# What LSP treats as a line break, and what some languages also end a line comment at.
LINE_ENDS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = draw(st.lists(LINE_TEXT, min_size=1, max_size=12))
    if draw(st.booleans()):
        lines[0] = "#!/usr/bin/env sh"
    breaks = draw(st.lists(st.sampled_from(BREAKS), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + line_break for line, line_break in zip(lines, breaks, strict=True))
    return text if draw(st.booleans()) else text.removesuffix(breaks[-1])


def insert_at_line(text: str, line: int, inserted: str) -> str:
    """Insert at the start of `line`; one past the last line is the end of the text."""
    offsets = [0] + [match.end() for match in re.finditer(r"\r\n|\r|\n", text)]
    at = offsets[line] if line < len(offsets) else len(text)
    return text[:at] + inserted + text[at:]


def is_comment(line: str, indent: str, style: CommentStyle, place: str) -> bool:
    """Is this inserted line a comment, and one that ends where the line does?"""
    if LINE_ENDS.search(line):
        return False
    text = line.removeprefix(indent)
    if style.line is not None:
        rest = text.removeprefix(style.line)
        # `--[[` opens a Lua block comment and `-->` is a Haskell operator: a space must follow.
        # A backslash at the end would continue a C, C++ or Makefile comment onto the code.
        return (
            line.startswith(indent + style.line)
            and rest[:1] in ("", " ")
            and not line.endswith("\\")
        )
    assert style.block is not None
    opening, closing = style.block
    if place == "first":
        return line == indent + opening
    if place == "last":
        return line == indent + closing
    if closing in line:
        return False
    if opening == "(*" and (opening in line or '"' in line or re.search(r"\{[a-z_]*\|", line)):
        return False  # OCaml comments nest, and strings inside them must be closed
    return not (opening == "<!--" and "--" in line)  # XML forbids `--` inside a comment


@settings(max_examples=400, deadline=None)
@given(
    text=documents(),
    language=st.sampled_from(sorted(STYLES)),
    first=st.integers(0, 15),
    length=st.integers(0, 5),
    markdown=MARKDOWN,
    question=st.none() | LINE_TEXT | MARKDOWN,
)
# Found by these tests once, kept as examples so that every run tries them.
@example(  # an empty line that ends in `\n` in a document whose first break is `\r`
    text="a\rb\n\nc", language="python", first=2, length=0, markdown="x", question=None
)
@example(  # a shebang that is the whole document: the comment goes below it
    text="#!/usr/bin/env sh", language="shellscript", first=0, length=0, markdown="x", question=None
)
@example(  # `--` may not appear in an XML comment; HTML ends one at `--!>`
    text="<p/>", language="xml", first=0, length=0, markdown="a --!> b <!-- c --->", question=None
)
@example(  # OCaml comments nest
    text="let x = 1", language="ocaml", first=0, length=0, markdown="(* a *) b *)", question=None
)
@example(  # OCaml reads strings inside comments: an open one swallows the code below
    text="let x = 1", language="ocaml", first=0, length=0, markdown='a " b {|c {id|d', question=None
)
def test_an_inserted_comment_changes_no_line_and_is_all_comment(
    text: str, language: str, first: int, length: int, markdown: str, question: str | None
) -> None:
    style = STYLES[language]
    lines = split_lines(text)
    anchor = anchor_lines(text, first, first + length)
    heading = comment_heading(Mode.ASK if question else Mode.EXPLAIN, question)

    insertion = comment_insertion(lines, anchor, style, heading, markdown, line_break_of(text))
    edited = split_lines(insert_at_line(text, insertion.line, insertion.text))

    inserted = split_lines(insertion.text)
    at = insertion.line
    if at == len(lines):  # below a shebang that ends the document
        assert inserted[0] == "", "the comment starts a line of its own"
        inserted = inserted[1:]
    else:
        assert inserted[-1] == "", "the comment ends with a line break"
        inserted = inserted[:-1]
    assert edited[:at] + edited[at + len(inserted) :] == lines, "every existing line is kept"
    assert edited[at : at + len(inserted)] == inserted
    assert at <= max(anchor.start, 1 if lines[0].startswith("#!") else 0), "above the selection"
    indent = inserted[0][: len(inserted[0]) - len(inserted[0].lstrip(" \t"))]
    for index, line in enumerate(inserted):
        place = "first" if index == 0 else "last" if index == len(inserted) - 1 else "inner"
        assert is_comment(line, indent, style, place), f"not a {language} comment: {line!r}"
    if at == 0:
        assert not lines[0].startswith("#!"), "nothing goes above a shebang"
    elif not (at == 1 and lines[0].startswith("#!")):
        assert not lines[at - 1].rstrip().endswith("\\"), "nothing splits a continued line"


@settings(max_examples=300, deadline=None)
@given(
    text=documents(),
    start=st.integers(1, 14),
    length=st.integers(0, 6),
    max_tokens=st.integers(200, 600),
)
def test_a_request_shows_the_editors_lines_within_the_budget(
    text: str, start: int, length: int, max_tokens: int
) -> None:
    lines = split_lines(text)
    end = min(start + length, len(lines))
    start = min(start, end)
    request = selection_request(Mode.EXPLAIN, "a.py", text, start, end, max_tokens)

    budget = max_tokens * CHARS_PER_TOKEN
    shown: list[int] = []
    for row in request.context.split("\n"):  # packed lines are joined with "\n" only
        match = re.fullmatch(r"\s*(\d+)([> ])\| (.*)", row, re.DOTALL)
        if match is None:
            assert row.strip() in ("⋮", "") or "selected lines not shown" in row, row
            continue
        number, marker, shown_text = int(match[1]), match[2], match[3]
        assert shown_text == lines[number - 1], "the line as the editor numbers it"
        assert (marker == ">") == (start <= number <= end), "exactly the selection is marked"
        shown.append(number)
    assert shown == sorted(set(shown))
    assert len(request.context) <= budget + 10 * len(shown) + 200
    assert len(request.selection) <= budget + 200
    selected = "\n".join(lines[start - 1 : end])
    kept = request.selection.split("\n[…")[0]
    assert selected.startswith(kept), "the selection is cut, never altered"
