"""Whether a model's final answer is an answer at all.

A weak model ends its turn with things that look like success to a loop: nothing, a
word, a tool call written as text, a JSON blob, or its own prompt repeated. Reported as
"done", they hide the failure; caught here, they cost one corrective retry instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator import prompts
from orchestrator.cancel import CancelToken
from orchestrator.llm import NO_SHARE, LLMClient, RunShare
from orchestrator.result import CallUsage, recorder
from orchestrator.textcalls import text_tool_calls

MIN_WORDS = 2
_NUMBERED_ROW = re.compile(r"^[\s+-]*\d+\s*[ >]\|")
_LISTING_MIN_ROWS = 5
_LISTING_SHARE = 0.5
_ECHO_SHARE = 0.8  # share of an answer's lines found word for word in its prompt
_ECHO_MIN_LINES = 3
_FINDINGS_BLOCK = re.compile(r"```findings\s*\n.*?```", re.DOTALL)
# Chat-template tokens (Llama 2, Gemma, ChatML, Llama 3): in an answer, they mean the model
# went on writing its prompt, as a small model under the wrong template does.
_TEMPLATE_MARKUP = re.compile(
    r"<s>|</s>|\[/?INST\]|<</?SYS>>?|<(?:start|end)_of_turn>|<\|(?:im_start|im_end|eot_id|"
    r"start_header_id|end_header_id)\|>"
)


class UnusableAnswer(Exception):
    """The model's reply, even after a corrective retry, is not an answer; the message says why."""


def usable_answer(
    llm: LLMClient,
    model: str,
    messages: list[dict[str, Any]],
    cancel: CancelToken,
    max_tokens: int | None,
    calls: list[CallUsage],
    label: str,
    *,
    share: RunShare = NO_SHARE,
    required: bool = False,
    prompt_size: int | None = None,
) -> str:
    """The model's reply to `messages`, asked once more, saying what was wrong, if it is none.

    Every request sent is added to `calls` under `label`; `share` and `required` are the
    run's budget and slots, as `LLMClient.complete` takes them. An answer must not repeat the
    first `prompt_size` messages (all of them when None). Raises UnusableAnswer when the
    second reply is no answer either.
    """
    problem = answer = ""
    for _ in range(2):
        if problem:
            messages += [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": corrective(problem)},
            ]
        answer = llm.complete(
            model=model,
            messages=messages,
            cancel=cancel,
            max_tokens=max_tokens,
            on_attempt=recorder(calls, label, model),
            share=share,
            required=required,
        ).content
        if not (problem := unusable(answer, messages[:prompt_size])):
            return answer
    raise UnusableAnswer(f"unusable answer after a retry: {problem}")


def unusable(answer: str, prompt: list[dict[str, Any]]) -> str:
    """Why `answer` is not a usable markdown answer to `prompt`, or '' when it is."""
    text = _FINDINGS_BLOCK.sub("", answer).strip()
    if not text:
        return "the answer is empty"
    if "<tool_call>" in text or text_tool_calls(text):
        return "the answer is a tool call written as text, not an answer"
    if _is_json(text):
        return "the answer is a bare JSON value, not markdown prose"
    said = "\n".join(str(m.get("content") or "") for m in prompt)
    if (markup := _TEMPLATE_MARKUP.search(text)) and markup.group() not in said:
        return (
            f"the answer holds chat-template markup ({markup.group()}): the model went on "
            "writing its prompt (a model too small, or a server using the wrong chat template)"
        )
    if len(text.split()) < MIN_WORDS:
        return f"the answer is only {len(text.split())} word(s)"
    if (heading := _prompt_heading(text, said)) is not None:
        return f"the answer repeats its prompt's headings ({heading!r}) instead of answering"
    if _echoes(text, said):
        return "the answer repeats its prompt instead of answering it"
    if _listing(text):
        return "the answer is a numbered code listing like its prompt's, not an answer"
    return ""


def corrective(problem: str) -> str:
    """The message that asks the model once more, saying what was wrong."""
    return (
        f"That reply is not usable: {problem}. Tools are no longer available. Reply now "
        "with your final answer as markdown prose: what you found, citing `path:line`."
    )


def _is_json(text: str) -> bool:
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    candidate = fenced.group(1) if fenced else text
    if candidate[:1] not in "{[":
        return False
    try:
        json.loads(candidate)
    except ValueError:
        return False
    return True


def _prompt_heading(text: str, said: str) -> str | None:
    """A heading of deepthink's own prompts found in the answer, unless the user's code (a
    numbered or diff row of the prompt) holds it too, as deepthink's own prompts.py does."""
    for heading in prompts.HEADINGS:
        if heading in text and not re.search(
            rf"^(?:\s*\d+[ >]\||[+-]).*{re.escape(heading)}", said, re.MULTILINE
        ):
            return heading
    return None


def _listing(text: str) -> bool:
    """Mostly rows of the prompt's numbered code format (`   12 | code`)."""
    rows = [line for line in text.splitlines() if line.strip() and line.strip() != "⋮"]
    numbered = sum(1 for line in rows if _NUMBERED_ROW.match(line))
    return numbered >= _LISTING_MIN_ROWS and numbered >= _LISTING_SHARE * len(rows)


def _echoes(text: str, said: str) -> bool:
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 8]
    if len(lines) < _ECHO_MIN_LINES:
        return len(text) >= 40 and text in said
    repeated = sum(1 for line in lines if line in said)
    return repeated >= _ECHO_SHARE * len(lines)
