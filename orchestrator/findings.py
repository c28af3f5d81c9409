"""The ```findings block of an answer: where it is, and the findings it holds.

Agents and the synthesis both end a review with one. Weak models write near-JSON (trailing
commas, single quotes, a missing closing fence, line numbers as strings or ranges): what
can be read is read, and what cannot be is counted rather than guessed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import json_repair

from orchestrator.result import Finding, Severity

# The closing fence may be missing when the model stopped at its token limit.
_FINDINGS_BLOCK = re.compile(r"```findings[^\n]*\n(.*?)(?:```|\Z)\s*", re.DOTALL)
_NUMBER = re.compile(r"\d+")


def has_findings_block(text: str) -> bool:
    return _FINDINGS_BLOCK.search(text) is not None


def split_findings(text: str, default_path: str) -> tuple[str, list[Finding], str]:
    """Separate the ```findings block from the markdown; tolerate a malformed block.

    Returns the markdown, the findings, and a note on what could not be read ('' if none).
    """
    match = _FINDINGS_BLOCK.search(text)
    if match is None:
        return text.strip(), [], ""
    markdown = (text[: match.start()] + text[match.end() :]).strip()
    block = match.group(1).strip()
    try:
        items: Any = json.loads(block)
        problem = ""
    except json.JSONDecodeError as error:
        items = json_repair.loads(block) if block else []
        problem = f"the findings block is not valid JSON ({error.msg})"
    if isinstance(items, dict):
        # `{"findings": [...]}` or one finding on its own.
        items = items.get("findings", [items])
    if not isinstance(items, list):
        return markdown, [], problem or "the findings block is not a JSON list"
    findings = [finding for item in items if (finding := _finding(item, default_path))]
    if problem and not findings:
        return markdown, [], problem
    skipped = len(items) - len(findings)
    note = f"{skipped} malformed finding(s) skipped" if skipped else ""
    return markdown, findings, note


def _finding(item: Any, default_path: str) -> Finding | None:
    if not isinstance(item, dict) or not isinstance(item.get("message"), str):
        return None
    start = _line(item.get("start_line") or item.get("line") or item.get("lines"))
    end = _line(item.get("end_line"), last=True) or _line(item.get("line"), last=True) or start
    if start is None or start < 1:
        return None
    try:
        severity = Severity(str(item.get("severity", "warning")).strip().lower())
    except ValueError:
        severity = Severity.WARNING
    path = item.get("path") or item.get("file")
    if not isinstance(path, str) or not path.strip():
        path = default_path
    quote = item.get("quote") or item.get("code") or ""
    return Finding(
        path.strip(),
        start,
        max(start, end or start),
        severity,
        item["message"].strip(),
        quote=quote if isinstance(quote, str) else "",
    )


def _line(value: Any, *, last: bool = False) -> int | None:
    """A line number from 12, "12", "12-14" or [12, 14]; the last number when `last`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value:
        return _line(value[-1] if last else value[0])
    if isinstance(value, str) and (numbers := _NUMBER.findall(value)):
        return int(numbers[-1] if last else numbers[0])
    return None
