"""The synthesis as a comment above the selected code, in the language's own comment syntax."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from server.anchors import Anchor

WIDTH = 100  # columns the comment is wrapped to, indentation and markers included
_MIN_TEXT_WIDTH = 40


@dataclass(frozen=True)
class CommentStyle:
    """A line-comment marker such as `#`, or a block's opening and closing tokens."""

    line: str | None = None
    block: tuple[str, str] | None = None


_HASH = CommentStyle(line="#")
_SLASHES = CommentStyle(line="//")
_DASHES = CommentStyle(line="--")
_SEMICOLONS = CommentStyle(line=";;")
_PERCENT = CommentStyle(line="%")
_C_BLOCK = CommentStyle(block=("/*", "*/"))
_MARKUP = CommentStyle(block=("<!--", "-->"))

# LSP language ids, plus the Neovim filetypes that differ from them (Neovim sends its
# filetype as the language id).
STYLES: dict[str, CommentStyle] = {
    **dict.fromkeys(
        ["python", "shellscript", "sh", "bash", "zsh", "fish", "ruby", "perl", "r", "yaml",
         "toml", "dockerfile", "makefile", "make", "cmake", "powershell", "ps1", "elixir",
         "nix", "julia", "coffeescript", "graphql", "terraform", "hcl", "tcl", "crystal",
         "nim", "gdscript", "starlark", "bzl", "conf", "gitignore"],
        _HASH,
    ),
    **dict.fromkeys(
        ["javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "c",
         "cpp", "cuda-cpp", "cuda", "objective-c", "objc", "objective-cpp", "objcpp", "java",
         "kotlin", "scala", "groovy", "csharp", "cs", "fsharp", "swift", "dart", "php", "zig",
         "jsonc", "proto", "solidity", "d", "scss", "less", "glsl", "hlsl", "v", "odin"],
        _SLASHES,
    ),
    **dict.fromkeys(["lua", "sql", "haskell", "elm", "ada", "purescript", "agda"], _DASHES),
    **dict.fromkeys(["lisp", "commonlisp", "clojure", "scheme", "racket", "fennel"], _SEMICOLONS),
    **dict.fromkeys(["erlang", "latex", "tex", "plaintex", "bibtex", "matlab", "prolog"], _PERCENT),
    "ini": CommentStyle(line=";"),
    "vim": CommentStyle(line='"'),
    "vb": CommentStyle(line="'"),
    "bat": CommentStyle(line="REM"),
    "css": _C_BLOCK,
    "ocaml": CommentStyle(block=("(*", "*)")),
    **dict.fromkeys(["html", "xml", "xsl", "svg", "markdown"], _MARKUP),
}  # fmt: skip


def style_for(language_id: str) -> CommentStyle | None:
    """The comment syntax for an LSP language id; None when unknown (then nothing is inserted:
    a guessed syntax could break the file)."""
    return STYLES.get(language_id.lower())


@dataclass(frozen=True)
class Insertion:
    """Text to insert at the start of `line` (0-based).

    `line` is one past the last line only below a shebang that ends the document: then the
    text goes at the document's end and starts with the line break.
    """

    line: int
    text: str


def comment_insertion(
    lines: Sequence[str],
    anchor: Anchor,
    style: CommentStyle,
    heading: str,
    markdown: str,
    line_break: str = "\n",
) -> Insertion:
    """The comment to insert above the anchored lines, indented like the code it describes."""
    line = _insertion_line(lines, anchor.start)
    indent = _indentation(lines[line : anchor.end + 1])
    width = max(_MIN_TEXT_WIDTH, WIDTH - len(indent) - 4)
    # Every line break goes through wrap_markdown: one left in a line would end the comment.
    body = [*wrap_markdown(heading, width), "", *wrap_markdown(markdown, width)]
    commented = (
        _line_comment(body, indent, style.line)
        if style.line is not None
        else _block_comment(body, indent, *(style.block or ("", "")))
    )
    if line == len(lines):
        return Insertion(line, "".join(line_break + text for text in commented))
    return Insertion(line, "".join(text + line_break for text in commented))


def wrap_markdown(markdown: str, width: int) -> list[str]:
    """Re-flow long prose lines; code blocks, tables and headings keep their lines."""
    out: list[str] = []
    in_fence = False
    for raw in markdown.strip().splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        if in_fence or stripped.startswith(("```", "~~~", "|", "#")) or len(line) <= width:
            out.append(line)
            continue
        lead = line[: len(line) - len(stripped)]
        marker = _list_marker(stripped)
        out += textwrap.wrap(
            stripped,
            width=width,
            initial_indent=lead,
            subsequent_indent=lead + " " * len(marker),
            break_long_words=False,
            break_on_hyphens=False,
        )
    return out


def _insertion_line(lines: Sequence[str], start: int) -> int:
    line = start
    # A comment line after a backslash continuation would join the statement it ends.
    while line > 0 and lines[line - 1].rstrip().endswith("\\"):
        line -= 1
    # Nothing may go above a shebang: the kernel reads it from the first line only.
    if line == 0 and lines and lines[0].startswith("#!"):
        line = 1
    return line


def _indentation(lines: Sequence[str]) -> str:
    for line in lines:
        if line.strip():
            return line[: len(line) - len(line.lstrip(" \t"))]
    return ""


def _list_marker(text: str) -> str:
    for bullet in ("- ", "* ", "+ "):
        if text.startswith(bullet):
            return bullet
    digits = len(text) - len(text.lstrip("0123456789"))
    if digits and text[digits : digits + 2] in (". ", ") "):
        return text[: digits + 2]
    return ""


def _line_comment(body: list[str], indent: str, marker: str) -> list[str]:
    # In C and C++ a backslash ending a `//` line continues the comment onto the next line,
    # which would comment out the code below; markdown's hard line breaks end in one.
    texts = [text.rstrip("\\ \t") for text in body]
    return [f"{indent}{marker} {text}" if text else f"{indent}{marker}" for text in texts]


def _block_comment(body: list[str], indent: str, opening: str, closing: str) -> list[str]:
    inner = [f"{indent}{_defused(text, opening, closing)}".rstrip() for text in body]
    return [f"{indent}{opening}", *inner, f"{indent}{closing}"]


def _defused(text: str, opening: str, closing: str) -> str:
    """The text with a space inside every token that would end the comment early: the
    closing one; `--` in markup (XML forbids it in comments, HTML also ends one at `--!>`);
    the opening one where comments nest (OCaml), as it would need a second closing.

    OCaml also reads string literals inside comments, and one left open (`"`, `{|`, `{id|`)
    swallows the rest of the file: double quotes become single ones, which it skips.
    """
    tokens = [closing]
    if opening == "<!--":
        tokens.append("--")
    if opening == "(*":
        tokens.append(opening)
        text = _OCAML_QUOTED_STRING.sub(r"{ \1|", text.replace('"', "'"))
    for token in tokens:
        while token in text:  # `---` holds a second `--` once the first is broken
            text = text.replace(token, f"{token[0]} {token[1:]}")
    return text


_OCAML_QUOTED_STRING = re.compile(r"\{([a-z_]*)\|")
