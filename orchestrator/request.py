"""What the user asked for, independent of whether it came from an editor or a terminal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    EXPLAIN = "explain"
    REVIEW = "review"
    ASK = "ask"
    REVIEW_DIFF = "review-diff"

    @property
    def is_review(self) -> bool:
        return self in (Mode.REVIEW, Mode.REVIEW_DIFF)


@dataclass(frozen=True)
class Request:
    """A deep-think request.

    `path` is relative to the workspace root when the file is inside it, so that
    agents can open it with their tools and cite `path:line`. `context` is the
    packed surrounding code (imports, enclosing definition) with line numbers;
    `selection` is the code (or, for review-diff, the diff) the user chose.
    """

    mode: Mode
    path: str
    selection: str
    start_line: int = 1
    end_line: int = 1
    context: str = ""
    question: str | None = None
    language: str = ""

    def task(self) -> str:
        """The user's request in one sentence, as the agents and synthesis see it."""
        where = f"{self.path}:{self.start_line}-{self.end_line}"
        if self.mode is Mode.EXPLAIN:
            return f"Explain what the selected code at {where} does, how and why."
        if self.mode is Mode.REVIEW:
            return f"Review the selected code at {where}: find bugs, risks and improvements."
        if self.mode is Mode.ASK:
            return f"Answer this question about the selected code at {where}: {self.question}"
        return "Review this diff: find bugs, risks and improvements in the changed lines."
