"""Tool calls that a model wrote as text instead of sending them as calls.

Small local models served without a function-calling chat format write their calls in the
reply: Hermes/Qwen `<tool_call>{...}</tool_call>` blocks, or a bare (maybe fenced)
`{"name": ..., "arguments": {...}}` object. Read as an answer, such a reply is garbage;
read as a call, it is what the model meant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class TextCall:
    name: str
    arguments: str  # a JSON object, as a tool call carries it


def text_tool_calls(text: str) -> list[TextCall]:
    """The calls a reply consists of, or [] when it is (also) something else.

    A bare object counts only when it is the whole reply, so that an answer which shows a
    JSON example among its prose is not taken for a call.
    """
    stripped = text.strip()
    if "<tool_call>" in stripped:
        blocks = [_load(block) for block in _TAGGED.findall(stripped)]
    else:
        fenced = _FENCED.match(stripped)
        whole = _load(fenced.group(1) if fenced else stripped)
        blocks = whole if isinstance(whole, list) else [whole]
    calls = [call for block in blocks if (call := _call(block)) is not None]
    return calls if calls and len(calls) == len(blocks) else []


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _call(block: Any) -> TextCall | None:
    if not isinstance(block, dict):
        return None
    if isinstance(block.get("function"), dict):
        return _call(block["function"])  # the OpenAI message shape, written out
    if not isinstance(block.get("name"), str):
        return None
    arguments = block.get("arguments", block.get("parameters"))
    if isinstance(arguments, str):
        arguments = _load(arguments)
    if not isinstance(arguments, dict):
        return None
    return TextCall(block["name"], json.dumps(arguments, ensure_ascii=False))
