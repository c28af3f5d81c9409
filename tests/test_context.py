"""Context packing: what agents see of the file around the selection."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.context import (
    CHARS_PER_TOKEN,
    language_of,
    pack_context,
    selection_request,
    split_lines,
)
from orchestrator.request import Mode

PYTHON = """\
import os
from pathlib import Path

CONSTANT = 1


class Store:
    def __init__(self, root):
        self.root = root

    def load(self, name):
        path = Path(self.root) / name
        with open(path) as handle:
            return handle.read()

    def save(self, name, data):
        Path(self.root, name).write_text(data)


def unrelated():
    return os.getcwd()
"""


def numbers(packed: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)[> ]\|", packed, re.MULTILINE)]


def test_selection_comes_with_its_class_method_and_imports() -> None:
    packed = pack_context(PYTHON, 13, 14, max_tokens=2000)
    shown = numbers(packed)
    assert {1, 2} <= set(shown), "imports"
    assert 7 in shown, "enclosing class header"
    assert set(range(11, 15)) <= set(shown), "the method around the selection"
    assert 21 not in shown, "an unrelated function"
    assert "   13>|         with open(path) as handle:" in packed
    assert "   12 |         path = Path(self.root) / name" in packed
    assert "⋮" in packed


def test_brace_language_block_includes_the_closing_brace() -> None:
    go = (
        'package main\n\nimport "fmt"\n\n'
        "func main() {\n\tx := 1\n\tfmt.Println(x)\n}\n\nfunc other() {}\n"
    )
    shown = numbers(pack_context(go, 6, 6, max_tokens=2000))
    assert shown == [1, 3, 5, 6, 7, 8]


def test_huge_file_is_cut_to_the_budget_around_the_selection() -> None:
    text = "\n".join(f"x{i} = {i}" for i in range(50_000))
    packed = pack_context(text, 25_000, 25_002, max_tokens=500)
    assert len(packed) <= 500 * CHARS_PER_TOKEN + 20
    shown = numbers(packed)
    assert {25_000, 25_001, 25_002} <= set(shown)
    assert min(shown) > 24_900 and max(shown) < 25_100
    assert "selected lines not shown" not in packed


def test_a_selection_over_the_budget_says_what_is_missing() -> None:
    text = "\n".join(f"x{i} = {i}  # padding padding padding" for i in range(1, 2001))
    packed = pack_context(text, 1, 2000, max_tokens=300)
    shown = numbers(packed)
    assert shown[0] == 1 and len(shown) < 100
    assert packed.endswith(
        f"({2000 - len(shown)} selected lines not shown: over the context budget of 300 tokens; "
        "read them with read_file)"
    )


def test_empty_text_and_out_of_range_selection() -> None:
    assert pack_context("", 1, 1, 1000) == ""
    assert numbers(pack_context("a\nb", 10, 20, 1000)) == [1, 2]


def test_language_ids() -> None:
    assert language_of("src/app.py") == "python"
    assert language_of("x.TSX") == "typescriptreact"
    assert language_of("Makefile") == ""


lines = st.lists(st.text(alphabet=" \tabc{}():=#", max_size=40), min_size=1, max_size=80)


@settings(max_examples=200, deadline=None)
@given(lines, st.integers(1, 90), st.integers(0, 10), st.integers(200, 2000))
def test_packing_is_faithful_and_bounded(
    source: list[str], start: int, length: int, max_tokens: int
) -> None:
    text = "\n".join(source)
    packed = pack_context(text, start, start + length, max_tokens)
    real = split_lines(text)
    shown = numbers(packed)
    assert shown == sorted(set(shown)), "lines in order, once each"
    for line in packed.splitlines():
        match = re.match(r"^\s*(\d+)[> ]\| (.*)$", line)
        if match:
            assert real[int(match.group(1)) - 1] == match.group(2), "every line is the file's own"
    assert len(packed) <= max_tokens * CHARS_PER_TOKEN + 2 * len(shown) + 120
    first = min(max(start, 1), len(real))
    if text and len(real[first - 1]) < 100:
        assert first in shown, "the selection's first line always fits"


def test_a_huge_question_is_held_to_the_context_budget() -> None:
    question = "Why does this fail? " + "Here is the log line.\n" * 500_000  # about 10 MB
    request = selection_request(
        Mode.ASK, "store.py", PYTHON, 9, 10, max_tokens=1000, question=question
    )
    assert request.question is not None
    assert len(request.question) <= 1000 * CHARS_PER_TOKEN + 200
    assert request.question.startswith("Why does this fail? Here is the log line.")
    assert len(request.task()) < 1000 * CHARS_PER_TOKEN + 400
