"""Pack the code around a selection into a token budget: selection, enclosing definition, imports.

The result is what agents see first, so it carries real line numbers (agents
cite `path:line`) and marks the selected lines; gaps are shown, never hidden.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePath

from orchestrator.request import Mode, Request

CHARS_PER_TOKEN = 4
# LSP knows exactly three line breaks; str.splitlines also splits on form feeds and
# Unicode separators, which would disagree with the editor's line numbers.
LINE_BREAK = re.compile(r"\r\n|\r|\n")
_WINDOW = 30  # lines either side of a selection that has no enclosing definition

_IMPORT = re.compile(
    r"^\s*(import\s|from\s+\S+\s+import\s|#\s*include\s|use\s|using\s|package\s|require[\s(]"
    r"|(local|const|let|var)\s+\w+\s*=\s*require\b|extern\s+crate\s)"
)
_DEFINITION = re.compile(
    r"^\s*(async\s+def|def|class|function|fn|func|impl|struct|enum|interface|trait|module"
    r"|local\s+function|(export\s+)?(default\s+)?(async\s+)?function|(pub(\(\w+\))?\s+)+\w+"
    r"|(public|private|protected|static|final|abstract|override|virtual|inline)\s)"
    # A C-family function signature: `type name(args)` ending the line or opening a brace.
    r"|^\s*+(?!(if|for|while|switch|return|else|catch|with|elif|except|do)\b)"
    r"[\w:<>,\*&\s]+\s+[\w:~]+\s*\([^;]*\)\s*(const\s*)?\{?\s*$"
)

LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".jsx": "javascriptreact",
    ".mjs": "javascript", ".cjs": "javascript", ".ts": "typescript", ".tsx": "typescriptreact",
    ".go": "go", ".rs": "rust", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
    ".cxx": "cpp", ".hpp": "cpp", ".java": "java", ".kt": "kotlin", ".cs": "csharp",
    ".lua": "lua", ".sh": "shellscript", ".bash": "shellscript", ".zsh": "shellscript",
    ".rb": "ruby", ".php": "php", ".swift": "swift", ".scala": "scala", ".sql": "sql",
    ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".html": "html", ".css": "css",
}  # fmt: skip


def split_lines(text: str) -> list[str]:
    """The text's lines as an editor numbers them, without their line breaks."""
    return LINE_BREAK.split(text)


def language_of(path: str) -> str:
    """The LSP language id for a file name, or '' when unknown."""
    return LANGUAGES.get(PurePath(path).suffix.lower(), "")


def pack_context(text: str, start_line: int, end_line: int, max_tokens: int) -> str:
    """Numbered lines around the 1-based inclusive selection, within about `max_tokens`.

    Lines are chosen by priority: the selection, the headers of the enclosing
    definitions, the imports, then the rest of the enclosing block nearest the
    selection first. The selection itself is cut only if it alone exceeds
    the budget.
    """
    if not text:
        return ""
    lines = split_lines(text)
    start = min(max(start_line, 1), len(lines))
    end = min(max(end_line, start), len(lines))
    budget = max_tokens * CHARS_PER_TOKEN
    headers, block_end = _enclosing(lines, start, end)
    region_start = headers[0] if headers else max(1, start - _WINDOW)
    region_end = block_end if headers else min(len(lines), end + _WINDOW)

    ranked: list[int] = list(range(start, end + 1)) + headers
    ranked += _imports(lines, limit=region_start)
    around = [n for n in range(region_start, region_end + 1) if not start <= n <= end]
    ranked += sorted(around, key=lambda n: start - n if n < start else n - end)

    chosen: set[int] = set()
    used = 0
    for number in ranked:
        if number in chosen:
            continue
        cost = len(_render(lines, number, start, end)) + 1
        if used + cost > budget:
            if start <= number <= end:
                continue  # a long selection line: try the shorter ones that follow
            break
        chosen.add(number)
        used += cost
    packed = _layout(lines, sorted(chosen), start, end)
    hidden = sum(1 for n in range(start, end + 1) if n not in chosen)
    if hidden:
        packed += (
            f"\n({hidden} selected lines not shown: over the context budget of "
            f"{max_tokens} tokens; read them with read_file)"
        )
    return packed


def _enclosing(lines: list[str], start: int, end: int) -> tuple[list[int], int]:
    """Headers of the definitions enclosing the selection, innermost first (by indentation),
    and the last line of the innermost one's block."""
    selected = [lines[n - 1] for n in range(start, end + 1) if lines[n - 1].strip()]
    indent = min((_indent(line) for line in selected), default=0)
    headers: list[int] = []
    if selected and _DEFINITION.match(lines[start - 1]) and _indent(lines[start - 1]) == indent:
        headers.append(start)
    for number in range(start - 1, 0, -1):
        line = lines[number - 1]
        if not line.strip() or _indent(line) >= indent:
            continue
        indent = _indent(line)
        if _DEFINITION.match(line):
            headers.append(number)
        if indent == 0:
            break
    block_end = _block_end(lines, headers[0], end) if headers else end
    return headers, block_end


def _block_end(lines: list[str], header: int, at_least: int) -> int:
    indent = _indent(lines[header - 1])
    for number in range(max(header, at_least) + 1, len(lines) + 1):
        line = lines[number - 1]
        if line.strip() and _indent(line) <= indent:
            # A closing brace at the header's indentation still belongs to the block.
            return number if line.strip()[0] in "})]" or line.strip() == "end" else number - 1
    return len(lines)


def _imports(lines: list[str], limit: int) -> list[int]:
    return [n for n in range(1, limit) if _IMPORT.match(lines[n - 1])]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _render(lines: list[str], number: int, start: int, end: int) -> str:
    marker = ">" if start <= number <= end else " "
    return f"{number:>5}{marker}| {lines[number - 1]}"


def _layout(lines: list[str], numbers: list[int], start: int, end: int) -> str:
    out: list[str] = []
    previous = 0
    for number in numbers:
        if number > previous + 1:
            out.append("    ⋮")
        out.append(_render(lines, number, start, end))
        previous = number
    if previous < len(lines):
        out.append("    ⋮")
    return "\n".join(out)


def selection_request(
    mode: Mode,
    path: str,
    text: str,
    start_line: int,
    end_line: int,
    max_tokens: int,
    *,
    question: str | None = None,
    language: str = "",
) -> Request:
    """A request about lines `start_line`-`end_line` (1-based) of `text`, within the budget."""
    lines = split_lines(text)[start_line - 1 : end_line]
    return Request(
        mode=mode,
        path=path,
        selection=fit_budget("\n".join(lines), max_tokens),
        start_line=start_line,
        end_line=end_line,
        context=pack_context(text, start_line, end_line, max_tokens),
        # The question goes into every prompt: a huge one (10 MB) gets the same budget.
        question=None if question is None else fit_budget(question, max_tokens),
        language=language or language_of(path),
    )


def review_diff_request(
    path: str, diff: str, max_tokens: int, *, start_line: int = 1, end_line: int = 1
) -> Request:
    """A review of `diff`; `path` is where findings without one belong ('' for none)."""
    return Request(
        mode=Mode.REVIEW_DIFF,
        path=path,
        selection=fit_budget(diff, max_tokens),
        start_line=start_line,
        end_line=end_line,
        language=language_of(path),
    )


def fit_budget(text: str, max_tokens: int, why: str = "") -> str:
    """Cut text at a line boundary to about `max_tokens`, saying how much was left out.

    A whole file or a large diff would otherwise reach the model uncut: only the
    packed context has a budget of its own. Agents can read the rest with their tools.
    `why` names the limit in the note (default: context.max_tokens).
    """
    limit = max_tokens * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    kept = text[:limit]
    if "\n" in kept:
        kept = kept.rsplit("\n", 1)[0]
    omitted = text.count("\n") - kept.count("\n")
    why = why or f"context.max_tokens = {max_tokens}"
    return f"{kept}\n[… {omitted} more lines cut to fit {why}; read them with the tools]"


def shrink_request(request: Request, max_tokens: int) -> Request:
    """The request with its code cut to about `max_tokens`, for a small context window.

    The packed context keeps its selected lines first, then the lines nearest to them;
    a diff or a selection without context is cut at its end.
    """
    why = f"the context window (provider.context_window), {max_tokens} tokens for code"
    if request.context:
        return replace(request, context=shrink_packed(request.context, max_tokens))
    return replace(request, selection=fit_budget(request.selection, max_tokens, why))


def shrink_packed(packed: str, max_tokens: int) -> str:
    """Packed context (see `pack_context`) cut to about `max_tokens`, nearest lines first."""
    budget = max_tokens * CHARS_PER_TOKEN
    if len(packed) <= budget:
        return packed
    rows = packed.split("\n")
    marked = [i for i, row in enumerate(rows) if _PACKED_ROW.match(row) and row[5:6] == ">"]
    centre = marked[0] if marked else 0
    rest = sorted(set(range(len(rows))) - set(marked), key=lambda i: abs(i - centre))
    order = marked + rest
    kept: set[int] = set()
    used = 0
    for i in order:
        if used + len(rows[i]) + 1 > budget:
            if i in marked:
                continue
            break
        kept.add(i)
        used += len(rows[i]) + 1
    out: list[str] = []
    for i, row in enumerate(rows):
        if i in kept:
            out.append(row)
        elif not out or out[-1] != "    ⋮":
            out.append("    ⋮")
    return "\n".join(out)


_PACKED_ROW = re.compile(r"^\s*\d+[ >]\| ")
