"""Grounding and agreement: pure functions over findings and file text."""

from __future__ import annotations

from orchestrator.agreement import alike, at_least, merge_agreeing
from orchestrator.grounding import bad_citations, ground_findings
from orchestrator.result import Finding, Severity

TEXT = "def f(x):\n    if x:\n        return  1 / x\n\n    return 0\n\n\ndef g():\n    return 0\n"


def at(line: int, quote: str = "", path: str = "m.py", message: str = "m") -> Finding:
    return Finding(path, line, line, Severity.WARNING, message, quote=quote)


def read(path: str) -> str | None:
    return {"m.py": TEXT, "secret.py": None}.get(path, "")


def test_quotes_match_whatever_their_indentation_and_spacing() -> None:
    findings = [at(3, "return 1/x"), at(3, "  return   1 / x"), at(1, "def f(x):\n if x:")]
    grounded = ground_findings(findings, read)
    assert [(f.start_line, f.end_line) for f in grounded.findings] == [(3, 3), (1, 1)]
    assert grounded.dropped == 1  # `1/x` is not `1 / x`: only whitespace is forgiven


def test_a_quote_elsewhere_moves_the_finding_to_the_nearest_place_it_is() -> None:
    grounded = ground_findings([at(20, "if x:\n    return 1 / x"), at(8, "return 0")], read)
    assert [(f.start_line, f.end_line) for f in grounded.findings] == [(2, 3), (9, 9)]
    assert grounded.relocated == 2


def test_quotes_copied_with_the_context_line_numbers_still_match() -> None:
    grounded = ground_findings([at(9, "    3>|         return  1 / x")], read)
    assert [f.start_line for f in grounded.findings] == [3]


def test_unquoted_findings_need_only_a_line_the_file_has() -> None:
    grounded = ground_findings([at(9), at(10), at(1, path="missing.py")], read)
    assert [f.start_line for f in grounded.findings] == [9]
    assert grounded.dropped == 2


def test_files_that_cannot_be_checked_keep_their_findings() -> None:
    assert ground_findings([at(99, "anything", path="secret.py")], read).dropped == 0


def test_citations_past_the_end_of_a_file_are_bad_and_prose_paths_are_not() -> None:
    markdown = "See m.py:3, m.py:10-12, m.py:10 again, other.py:5 and secret.py:900."
    assert bad_citations(markdown, read) == ["m.py:10"]


def test_messages_alike_by_words_or_by_text() -> None:
    assert alike("Division by zero when b is 0", "ZeroDivisionError if b == 0")
    assert alike("x may be None here", "x may be None here!")
    assert not alike("Division by zero when b is 0", "the name is misleading")


def test_merging_is_by_place_and_problem_and_never_counts_an_agent_twice() -> None:
    merged = merge_agreeing(
        {
            2: [at(3, message="divides by zero"), at(3, message="a misleading name")],
            1: [at(3, message="division by zero"), at(4, message="division by zero")],
            3: [at(3, message="divide by zero possible"), at(9, message="divides by zero")],
        },
        of_agents=4,
    )
    assert [(f.start_line, f.message, f.agents) for f in merged] == [
        (3, "division by zero", (1, 2, 3)),
        (4, "division by zero", (1,)),
        (3, "a misleading name", (2,)),
        (9, "divides by zero", (3,)),
    ]
    assert merged[0].agreement == "(3/4 agents)"
    assert [f.start_line for f in at_least(merged, 2)] == [3]
