"""Pure parsing of the model's plan and of the review findings block."""

from __future__ import annotations

import itertools
import json

import pytest

from orchestrator.decompose import (
    PlanError,
    Subtask,
    fallback_plan,
    parse_plan,
    streamed_subtasks,
)
from orchestrator.findings import split_findings
from orchestrator.prompts import EXAMPLE_PLAN
from orchestrator.request import Mode, Request
from orchestrator.result import Severity

PLAN = {"subtasks": [{"role": "security", "question": "Is input checked?"}] * 2}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(PLAN),
        "Here is the plan:\n```json\n" + json.dumps(PLAN) + "\n```\nGood luck!",
        json.dumps(PLAN["subtasks"]),
        "Plan: " + json.dumps(PLAN) + " trailing words {",
    ],
    ids=["bare", "fenced", "list", "surrounded"],
)
def test_plan_is_found_wherever_the_model_put_it(text: str) -> None:
    subtasks = parse_plan(text, 2)
    assert [(s.role, s.question) for s in subtasks] == [("security", "Is input checked?")] * 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no json here", "no JSON found"),
        ('{"subtasks": [', "the subtasks list is empty"),
        ("[1, 2", 'subtask 1 has no "role"'),
        ('{"tasks": 5}', '"subtasks" list'),
        ('{"subtasks": [{"role": "", "question": "q"}] }', 'subtask 1 has no "role"'),
        ('{"subtasks": [{"role": "r", "question": 5}] }', 'subtask 1 has no "question"'),
        (
            json.dumps({"subtasks": [{"role": r, "question": q} for r, q in EXAMPLE_PLAN]}),
            "subtask 1 copies the example",
        ),
    ],
)
def test_unusable_plans_say_why(text: str, problem: str) -> None:
    with pytest.raises(PlanError, match=problem):
        parse_plan(text, 1)


@pytest.mark.parametrize(
    "text",
    [
        "{'subtasks': [{'role': 'security', 'question': 'Is input checked?'},]}",
        '{"subtasks": [{"role": "security", "question": "Is input checked?"}, {"role": "x"',
        '```json\n{"subtasks": [{"role": "security", "question": "Is input checked?"}]\n```',
    ],
    ids=["single quotes and trailing comma", "cut off", "unclosed"],
)
def test_near_json_plans_are_repaired(text: str) -> None:
    assert parse_plan(text, 4) == [Subtask("security", "Is input checked?")]


@pytest.mark.parametrize(
    "data",
    [
        {"role": "security", "question": "Is input checked?"},
        {"sub_questions": [{"role": "security", "question": "Is input checked?"}]},
    ],
    ids=["one item alone", "another key"],
)
def test_plans_in_the_shapes_small_models_give_are_read(data: dict[str, object]) -> None:
    assert parse_plan(json.dumps(data), 4) == [Subtask("security", "Is input checked?")]


def test_a_near_copy_of_the_example_is_no_plan() -> None:
    # Seen from Gemma 3 270M: the example's question with one word changed.
    question = (
        "Which date format does parse_date in dates.py accept, and which common ones "
        "does it reject?"
    )
    text = json.dumps({"role": "input formats", "question": question})
    with pytest.raises(PlanError, match="copies the example"):
        parse_plan(text, 2)


def test_a_plan_with_fewer_items_keeps_them_and_a_longer_one_is_cut() -> None:
    assert len(parse_plan(json.dumps(PLAN), 3)) == 2
    assert len(parse_plan(json.dumps(PLAN), 1)) == 1


def test_subtasks_are_read_from_a_plan_still_streaming_in() -> None:
    text = "Sure.\n```json\n" + json.dumps({"subtasks": [
        {"role": "security", "question": "Is input checked?"},
        {"role": "tests", "question": "What is untested?"},
        {"role": "errors", "question": "What fails?"},
    ]}) + "\n```"  # fmt: skip
    seen = [[(s.role, s.question) for s in streamed_subtasks(text[:end], 2)] for end in
            range(len(text) + 1)]  # fmt: skip
    first = ("security", "Is input checked?")
    # A sub-question counts only once its closing quote has arrived...
    assert seen[text.index("Is input checked?")] == []
    assert seen[text.index('"}, {"role": "tests"') + 1] == [first]
    # ...items come in order, and never more than asked for.
    assert seen[-1] == [first, ("tests", "What is untested?")]
    assert streamed_subtasks(text, 2, skip=1) == streamed_subtasks(text, 2)[1:]
    assert all(len(a) <= len(b) and b[: len(a)] == a for a, b in itertools.pairwise(seen))


@pytest.mark.parametrize(
    "text",
    ["", "no json", '[{"role": "r"', '{"subtasks": [{"role": "", "question": "q"}', '{"tasks": '],
)
def test_a_partial_plan_without_a_whole_subtask_gives_none(text: str) -> None:
    assert streamed_subtasks(text, 4) == []


@pytest.mark.parametrize("count", [1, 2, 4, 5, 9, 64])
def test_fallback_plan_has_distinct_roles_for_any_count(count: int) -> None:
    request = Request(Mode.ASK, "a.py", "x", question="Why?")
    subtasks = fallback_plan(request, count)
    assert len(subtasks) == count
    assert len({s.role for s in subtasks}) == count
    assert all("Why?" in s.question for s in subtasks)


def test_findings_block_is_split_from_the_markdown() -> None:
    text = (
        "## Review\nTwo problems.\n\n```findings\n"
        '[{"path": "b.py", "start_line": "3", "end_line": 5, '
        '"severity": "ERROR", "message": " x "},'
        ' {"line": 9, "message": "y"}, {"start_line": 0, "message": "z"}, "junk"]\n```\n'
    )
    markdown, findings, note = split_findings(text, "a.py")
    assert markdown == "## Review\nTwo problems."
    assert [(f.path, f.start_line, f.end_line, f.severity, f.message) for f in findings] == [
        ("b.py", 3, 5, Severity.ERROR, "x"),
        ("a.py", 9, 9, Severity.WARNING, "y"),
    ]
    assert note == "2 malformed finding(s) skipped"


def test_malformed_findings_block_keeps_the_markdown() -> None:
    markdown, findings, note = split_findings("Text.\n```findings\n[{oops\n```", "a.py")
    assert (markdown, findings) == ("Text.", [])
    assert "not valid JSON" in note


def test_markdown_without_findings_is_untouched() -> None:
    assert split_findings("  Just prose.\n", "a.py") == ("Just prose.", [], "")
