"""Pure checks of what small models send: tool calls as text, answers that are not answers."""

from __future__ import annotations

import json

import pytest

from orchestrator.answers import unusable
from orchestrator.context import pack_context, shrink_packed
from orchestrator.llm import listed_context_window
from orchestrator.textcalls import TextCall, text_tool_calls

READ = TextCall("read_file", json.dumps({"path": "a.py"}))


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>',
        'Let me look.\n<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}',
        '{"name": "read_file", "arguments": {"path": "a.py"}}',
        '```json\n{"name": "read_file", "parameters": {"path": "a.py"}}\n```',
        '{"name": "read_file", "arguments": "{\\"path\\": \\"a.py\\"}"}',
        '[{"type": "function", "function": {"name": "read_file", "arguments": {"path": "a.py"}}}]',
    ],
    ids=["hermes", "hermes unclosed after prose", "bare", "fenced", "string args", "openai"],
)
def test_tool_calls_written_as_text_are_read(text: str) -> None:
    assert text_tool_calls(text) == [READ]


@pytest.mark.parametrize(
    "text",
    [
        'Call it like `{"name": "read_file", "arguments": {}}` to read a file.',
        '{"name": "Ada", "age": 36}',
        "It divides by zero.",
        '<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>'
        "<tool_call>not json</tool_call>",
    ],
    ids=["example in prose", "not a call", "prose", "one call broken"],
)
def test_other_text_is_not_a_call(text: str) -> None:
    assert text_tool_calls(text) == []


PROMPT = [
    {"role": "system", "content": "You are one of several specialist agents."},
    {"role": "user", "content": "def divide(a, b):\n    return a / b\n\nprint(divide(1, 0))"},
]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("   ", "empty"),
        ("Yes", "only 1 word"),
        ('{"name": "grep", "arguments": {"q": "x"}}', "tool call written as text"),
        ("<tool_call>\n{}", "tool call written as text"),
        ('{"answer": 42}', "bare JSON value"),
        ("```json\n[1, 2]\n```", "bare JSON value"),
        ("def divide(a, b):\n    return a / b\n\nprint(divide(1, 0))", "repeats its prompt"),
        ("You are one of several specialist agents.", "repeats its prompt"),
        # Seen from Gemma 3 270M on llama-cpp-python: the prompt, continued.
        (
            "\n<s>[INST]Your role: analysis (with the user's sub-question)\nYour sub-question: "
            "Analyse correctness and robustness.",
            "chat-template markup (<s>)",
        ),
        ("It divides.<|im_end|>\n<|im_start|>user", "chat-template markup"),
        ("\n<</SYS>\n\n# Code from a.py", "chat-template markup (<</SYS>)"),
        (
            "<user-agent>\nYour role: analysis. (Please be specific.)\nYour sub-question: "
            "Analyse correctness.",
            "repeats its prompt's headings ('Your role:')",
        ),
        (
            "# Code from a.py\n```python\n    ⋮\n    5>| def mean(values):\n"
            + "".join(f"    {n} | \n" for n in range(7, 30)),
            "numbered code listing",
        ),
    ],
)
def test_answers_that_are_not_answers(answer: str, problem: str) -> None:
    assert problem in unusable(answer, PROMPT)


@pytest.mark.parametrize(
    "answer",
    [
        "It divides `a` by `b` (`a.py:2`) and fails on zero.",
        "## Review\nDivision by zero.\n```findings\n[]\n```",
        "The function:\n```python\ndef divide(a, b):\n    return a / b\n```\n"
        "raises ZeroDivisionError when `b` is 0, as `print(divide(1, 0))` shows at line 5.",
    ],
)
def test_real_answers_pass(answer: str) -> None:
    assert unusable(answer, PROMPT) == ""


def test_headings_that_the_code_itself_holds_may_be_quoted() -> None:
    prompt = [{"role": "user", "content": '   12 | AGENT_TASK = "Your role: {role}"'}]
    answer = "It formats the task as `Your role: {role}` for each agent."
    assert unusable(answer, prompt) == ""


def test_markup_that_the_code_itself_holds_may_be_quoted() -> None:
    prompt = [{"role": "user", "content": 'def wrap(text):\n    return f"[INST]{text}[/INST]"'}]
    answer = "It wraps the text in `[INST]` and `[/INST]` for a Llama 2 prompt."
    assert unusable(answer, prompt) == ""


def test_shrunk_context_keeps_the_selection_and_its_nearest_lines() -> None:
    text = "def big(x):\n" + "".join(f"    x = x * {i}\n" for i in range(400))
    packed = pack_context(text, 200, 201, 6000)
    shrunk = shrink_packed(packed, 100)
    assert len(shrunk) <= 100 * 4 + 20
    assert "  200>|" in shrunk and "  201>|" in shrunk
    assert "  199 |" in shrunk and "  202 |" in shrunk
    assert "  300 |" not in shrunk and "    ⋮" in shrunk
    assert shrink_packed(packed, 100_000) == packed


@pytest.mark.parametrize(
    ("entry", "window"),
    [
        ({"id": "m", "max_model_len": 4096}, 4096),  # vLLM
        ({"id": "m", "context_length": 8192}, 8192),  # OpenRouter, LM Studio
        ({"id": "m", "meta": {"n_ctx": 2048, "n_ctx_train": 32768}}, 2048),  # llama.cpp
        ({"id": "m", "meta": {"n_ctx_train": 32768}}, None),  # the trained size is no limit
        ({"id": "m", "object": "model"}, None),  # Ollama, OpenAI
    ],
)
def test_context_window_from_a_models_list(entry: dict[str, object], window: int | None) -> None:
    assert listed_context_window({"data": [entry]}, "m") == window
    other = {"id": "other", "max_model_len": 1}
    assert listed_context_window({"data": [other, entry]}, "m") == window
    assert listed_context_window({"data": [other, entry]}, "unknown") is None
