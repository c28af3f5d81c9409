"""Finished results kept for the editor: hovers and review diagnostics, anchored to their code.

Both follow the document through edits (server.anchors): a hover disappears when its
lines are edited, a diagnostic when the lines it flags are, and both move with the
code when lines are added or removed above them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, Self, TypeVar

import attrs
from lsprotocol import types

from orchestrator.result import Finding, Severity
from server.anchors import Anchor, follow

SOURCE = "deepthink"
MAX_HOVERS_PER_DOCUMENT = 20
MAX_RESULT_DOCUMENTS = 100

Changes = Sequence[types.TextDocumentContentChangeEvent]

Columns = Callable[[str], int]
"""How many columns a line has in the client's position encoding (UTF-16 by default)."""

_SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


@dataclass(frozen=True)
class HoverResult:
    anchor: Anchor
    markdown: str

    def hover(self, columns: Columns = len) -> types.Hover:
        end = types.Position(self.anchor.end, columns(self.anchor.lines[-1]))
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=self.markdown),
            range=types.Range(types.Position(self.anchor.start, 0), end),
        )

    def moved(self, anchor: Anchor) -> HoverResult:
        return replace(self, anchor=anchor)


class HoverStore:
    def __init__(self) -> None:
        self._results: dict[str, list[HoverResult]] = {}

    def put(self, uri: str, anchor: Anchor, markdown: str) -> None:
        results = self._results.setdefault(uri, [])
        results.append(HoverResult(anchor, markdown))
        del results[:-MAX_HOVERS_PER_DOCUMENT]

    def find(self, uri: str, line: int) -> HoverResult | None:
        """The newest result whose lines include `line`."""
        for result in reversed(self._results.get(uri, [])):
            if result.anchor.start <= line <= result.anchor.end:
                return result
        return None

    def follow(self, uri: str, changes: Changes, text: str) -> None:
        if uri in self._results:
            self._results[uri] = _follow_all(self._results[uri], changes, text)


@dataclass(frozen=True)
class AnchoredDiagnostic:
    anchor: Anchor
    diagnostic: types.Diagnostic

    def moved(self, anchor: Anchor) -> AnchoredDiagnostic:
        delta = anchor.start - self.anchor.start
        old = self.diagnostic.range
        shifted = types.Range(
            types.Position(old.start.line + delta, old.start.character),
            types.Position(old.end.line + delta, old.end.character),
        )
        return AnchoredDiagnostic(anchor, attrs.evolve(self.diagnostic, range=shifted))


class _Anchored(Protocol):
    @property
    def anchor(self) -> Anchor: ...

    def moved(self, anchor: Anchor) -> Self: ...


_Item = TypeVar("_Item", bound=_Anchored)


def finding_diagnostic(
    finding: Finding, lines: list[str], columns: Columns = len, views: str = ""
) -> AnchoredDiagnostic | None:
    """The diagnostic for a finding in a document with these lines; None if it lies outside."""
    start, end = finding.start_line - 1, finding.end_line - 1
    if start >= len(lines):
        return None
    end = min(max(end, start), len(lines) - 1)
    anchor = Anchor(start, tuple(lines[start : end + 1]))
    first = anchor.lines[0]
    diagnostic = types.Diagnostic(
        range=types.Range(
            types.Position(start, len(first) - len(first.lstrip())),  # whitespace: 1 column each
            types.Position(anchor.end, columns(anchor.lines[-1])),
        ),
        message=f"{finding.message} {finding.agreement}".rstrip(),
        severity=_SEVERITIES[finding.severity],
        source=SOURCE,
        # What each agent said of it, for the code action that shows it.
        data={"views": views} if views else None,
    )
    return AnchoredDiagnostic(anchor, diagnostic)


class DiagnosticStore:
    """Diagnostics per document, grouped by the reviewed file that produced them, so that
    reviewing a file again replaces its own findings and nobody else's."""

    def __init__(self) -> None:
        self._by_review: dict[str, dict[str, list[AnchoredDiagnostic]]] = {}

    def replace(self, reviewed: str, found: dict[str, list[AnchoredDiagnostic]]) -> set[str]:
        """Set the findings of a review; returns the documents whose diagnostics changed."""
        changed = set(self._by_review.pop(reviewed, {})) | set(found)
        self._by_review[reviewed] = {uri: items for uri, items in found.items() if items}
        return changed

    def clear(self, reviewed: str | None = None) -> set[str]:
        """Forget one review's findings, or every review's; returns the documents affected."""
        reviews = [reviewed] if reviewed is not None else list(self._by_review)
        changed: set[str] = set()
        for review in reviews:
            changed |= set(self._by_review.pop(review, {}))
        return changed

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        return [
            item.diagnostic for found in self._by_review.values() for item in found.get(uri, [])
        ]

    def follow(self, uri: str, changes: Changes, text: str) -> bool:
        """Move or drop the document's diagnostics for one didChange; True if any did."""
        moved = False
        for found in self._by_review.values():
            if uri in found:
                before = found[uri]
                found[uri] = _follow_all(before, changes, text)
                moved |= found[uri] != before
        return moved


def _follow_all(items: list[_Item], changes: Changes, text: str) -> list[_Item]:
    kept = []
    for item in items:
        anchor = follow(item.anchor, changes, text)
        if anchor is not None:
            kept.append(item if anchor == item.anchor else item.moved(anchor))
    return kept


@dataclass(frozen=True)
class FinishedResult:
    """A job's whole result, for `deepthink.result` (a client's preview of it)."""

    job: str
    uri: str
    range: types.Range | None
    mode: str
    status: str
    markdown: str

    def to_json(self) -> dict[str, object]:
        return {
            "job": self.job,
            "uri": self.uri,
            "range": None if self.range is None else attrs.asdict(self.range),
            "mode": self.mode,
            "status": self.status,
            "markdown": self.markdown,
        }


class FinishedResults:
    """The newest result of each document (up to a bound), and the newest of all."""

    def __init__(self, documents: int = MAX_RESULT_DOCUMENTS) -> None:
        self._by_uri: dict[str, FinishedResult] = {}
        self._documents = documents
        self._newest: FinishedResult | None = None

    def put(self, result: FinishedResult) -> None:
        self._by_uri.pop(result.uri, None)
        self._by_uri[result.uri] = result
        while len(self._by_uri) > self._documents:
            del self._by_uri[next(iter(self._by_uri))]
        self._newest = result

    def newest(self, uri: str | None = None) -> FinishedResult | None:
        return self._newest if uri is None else self._by_uri.get(uri)
