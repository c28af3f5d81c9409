"""The synthesis as a comment above the selected code, in the language's own comment syntax."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from server.anchors import Anchor
from server.plaintext import plain_text

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


_MAX_LABEL_LINES = 3
_CUT = " …"
DEFAULT_MAX_LINES = 30  # of the comment's text; the whole result stays on hover and in the preview


def comment_insertion(
    lines: Sequence[str],
    anchor: Anchor,
    style: CommentStyle,
    heading: str,
    markdown: str,
    line_break: str = "\n",
    max_lines: int = DEFAULT_MAX_LINES,
) -> Insertion:
    """The comment to insert above the anchored lines, indented like the code it describes.

    The result's markdown becomes plain prose and bullets (a comment is read in the code,
    not rendered), cut to `max_lines` with a pointer to the whole result.
    """
    line = _insertion_line(lines, anchor.start)
    indent = _indentation(lines[line : anchor.end + 1])
    width = max(_MIN_TEXT_WIDTH, WIDTH - len(indent) - 4)
    # Every line break goes through the wrapping: one left in a line would end the comment.
    # An ask's question heads the comment: a long one is cut short here, the hover has it all.
    words = " ".join(heading.split())
    most = _MAX_LABEL_LINES * width
    words = words if len(words) <= most else f"{words[:most]}{_CUT}"
    label = textwrap.wrap(
        words, width, break_long_words=False, max_lines=_MAX_LABEL_LINES, placeholder=_CUT
    )
    body = [*label, *_capped(plain_text(markdown, width), max_lines)]
    commented = (
        _line_comment(body, indent, style.line)
        if style.line is not None
        else _block_comment(body, indent, *(style.block or ("", "")))
    )
    if line == len(lines):
        return Insertion(line, "".join(line_break + text for text in commented))
    return Insertion(line, "".join(text + line_break for text in commented))


def _capped(text: list[str], max_lines: int) -> list[str]:
    if len(text) <= max_lines:
        return text
    kept = text[: max(max_lines - 1, 1)]
    while kept and not kept[-1].strip():
        kept.pop()
    return [*kept, f"[… {len(text) - len(kept)} more lines: hover over the code to read it all]"]


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
