"""Grounding without a model: is the code a finding quotes, or the line a citation names,
really in the file?

Models cite line numbers badly and sometimes invent code. A finding whose quoted code is
elsewhere in the file is moved there; one whose code is nowhere in it is dropped; a
citation of a line past the end of its file is reported, so that nobody links to it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from orchestrator.result import Finding

# A file path with an extension, then a line number, optionally a range: `src/app.py:42-50`.
CITATION = r"(?P<path>(?:\.{0,2}/)?(?:[\w.\-]+/)*[\w\-][\w.\-]*\.\w+):(?P<line>\d+)(?:-\d+)?"
_CITATION = re.compile(rf"(?<![\w./\-:\[]){CITATION}")
# What a model copies from the numbered context besides the code: `   12>| ` or `12: `.
_LINE_NUMBER = re.compile(r"^\s*\d+\s?[>|:]?\|?\s?")

Reader = Callable[[str], str | None]
"""A file's text by its path; '' for a file that does not exist, None for one that may not
or cannot be read (its findings are kept as they are: they cannot be checked)."""


@dataclass(frozen=True)
class Grounded:
    findings: list[Finding]
    dropped: int  # their code, or their line, is not in the file
    relocated: int  # moved to where their quoted code really is


def ground_findings(findings: list[Finding], read: Reader) -> Grounded:
    kept: list[Finding] = []
    dropped = relocated = 0
    texts: dict[str, str | None] = {}
    for finding in findings:
        if finding.path not in texts:
            texts[finding.path] = read(finding.path)
        text = texts[finding.path]
        if text is None:
            kept.append(finding)
            continue
        grounded = _ground(finding, text.splitlines())
        if grounded is None:
            dropped += 1
            continue
        relocated += grounded != finding
        kept.append(grounded)
    return Grounded(kept, dropped, relocated)


def dropped_warning(count: int) -> str:
    noun = "finding" if count == 1 else "findings"
    return f"{count} {noun} dropped: the cited code is not in the file"


def bad_citations(markdown: str, read: Reader) -> list[str]:
    """The `path:line` citations whose line the file does not have, in order, once each."""
    bad: list[str] = []
    lengths: dict[str, int | None] = {}
    for match in _CITATION.finditer(markdown):
        path, line = match["path"], int(match["line"])
        if path not in lengths:
            text = read(path)
            # A path that names no file is not a citation of a line, but prose: leave it.
            lengths[path] = len(text.splitlines()) if text else None
        length = lengths[path]
        citation = f"{path}:{line}"
        if length is not None and not 1 <= line <= length and citation not in bad:
            bad.append(citation)
    return bad


def citations_warning(cited: list[str]) -> list[str]:
    """The warning for bad citations, or none."""
    if not cited:
        return []
    noun = "citation" if len(cited) == 1 else "citations"
    return [f"{len(cited)} {noun} of a line the file does not have, not linked: {', '.join(cited)}"]


def _ground(finding: Finding, lines: list[str]) -> Finding | None:
    """The finding at the lines its quote is at; None when its code is not in the file."""
    if not finding.quote.strip():
        return finding if finding.start_line <= len(lines) else None
    places = _places(_normalised(finding.quote.splitlines()), lines)
    if not places:
        unnumbered = (_LINE_NUMBER.sub("", line) for line in finding.quote.splitlines())
        places = _places(_normalised(unnumbered), lines)
    if not places:
        return None
    cited = range(finding.start_line, finding.end_line + 1)
    if any(start in cited or end in cited for start, end in places):
        return finding
    # Several places hold the code: the one nearest the cited line is the likeliest meant.
    start, end = min(places, key=lambda place: (abs(place[0] - finding.start_line), place[0]))
    return dataclasses.replace(finding, start_line=start, end_line=end)


def _normalised(lines: Iterable[str]) -> list[str]:
    """Lines with every run of whitespace made one space; blank lines left out."""
    return [joined for line in lines if (joined := " ".join(line.split()))]


def _places(quote: list[str], lines: list[str]) -> list[tuple[int, int]]:
    """Every (first, last) 1-based line range where the quoted lines are, blank lines aside."""
    if not quote:
        return []
    numbered = [
        (number, joined)
        for number, line in enumerate(lines, 1)
        if (joined := " ".join(line.split()))
    ]
    places = []
    for i in range(len(numbered) - len(quote) + 1):
        window = numbered[i : i + len(quote)]
        pairs = enumerate(zip((text for _, text in window), quote, strict=True))
        if all(_holds(text, part, k, len(quote)) for k, (text, part) in pairs):
            places.append((window[0][0], window[-1][0]))
    return places


def _holds(line: str, part: str, index: int, count: int) -> bool:
    """Inner lines of a quote are whole lines; its first and last may be cut."""
    if count == 1:
        return part in line
    if index == 0:
        return line.endswith(part)
    if index == count - 1:
        return line.startswith(part)
    return line == part
