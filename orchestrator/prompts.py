"""Every prompt the orchestrator sends, in one place.

Agents' messages are laid out for provider prompt caching: the system prompt
and the shared file context come first and are identical across agents; each
agent's own role and sub-question come last.
"""

from __future__ import annotations

import json

from orchestrator.request import Request

AGENT_SYSTEM = """\
You are one of several specialist agents working in parallel on a question about code \
in a software project. You can call read-only tools on the project's workspace \
(paths are relative to its root) to read files, search, list files and read git history. \
Use them to check facts rather than guess, but stay focused: a few well-chosen calls beat many.

When you have enough evidence, answer your own sub-question in concise markdown. Cite \
evidence as `path:line` (for example `src/app.py:42`). Say plainly what you are unsure of. \
Reply with the final answer as a message without a tool call, or call `finish` with it."""

AGENT_SYSTEM_WITHOUT_TOOLS = """\
You are one of several specialist agents working in parallel on a question about code \
in a software project. You have no tools: work from the code shown to you.

Answer your own sub-question in concise markdown. Cite evidence as `path:line` (for example \
`src/app.py:42`). Say plainly what you are unsure of or could not see."""

SINGLE_SYSTEM = """\
You are an expert engineer answering a question about code in a software project. You \
have no tools: work from the code shown to you. Answer the user's request directly in \
concise markdown. Cite evidence as `path:line` (for example `src/app.py:42`). Say plainly \
what you are unsure of or could not see."""

# A real plan, for a request unlike any the user sends, so that a model that copies it
# instead of planning is caught (decompose drops copied items).
EXAMPLE_PLAN: tuple[tuple[str, str], ...] = (
    (
        "input formats",
        "Which date formats does parse_date in dates.py accept, and which common ones "
        "does it reject?",
    ),
    (
        "error handling",
        "What does parse_date do with empty, malformed or out-of-range input, and do its "
        "callers expect that?",
    ),
)

DECOMPOSE_SYSTEM = (
    """\
You plan the work of {count} specialist agents who will examine code in parallel. \
Split the user's request into exactly {count} complementary sub-questions, each answerable \
on its own by one agent with read-only access to the project, together covering the request \
without overlapping. Reply with one JSON object only, no prose: a "subtasks" list of \
{count} objects, each with a short "role" and a "question" about the user's code. For \
example, for 2 agents and a request to review a function `parse_date` in `dates.py`:
"""
    + json.dumps(
        {"subtasks": [{"role": role, "question": question} for role, question in EXAMPLE_PLAN]}
    )
    .replace("{", "{{")
    .replace("}", "}}")
    + """
Write your own roles and questions, about the user's request; the list must have exactly \
{count} entries."""
)

DECOMPOSE_RETRY = """\
That reply was not usable: {problem}. Reply again with JSON only: an object with a \
"subtasks" list of exactly {count} objects, each with non-empty "role" and "question" strings."""

SYNTHESIS_SYSTEM = """\
You are the lead engineer merging the answers of {count} specialist agents into one answer \
for the user. Be critical: where agents disagree, decide from the evidence (the code shown, \
their citations) and say why; drop claims that nothing supports; do not repeat yourself. \
Keep every `path:line` citation that supports a point and add your own where useful. Write \
concise markdown that answers the user's request directly; do not mention the agents."""

_FINDINGS_BLOCK = """\
add one fenced block tagged `findings` holding a JSON list of the concrete problems, one \
object each: {"path": "file path", "start_line": N, "end_line": N, \
"severity": "error|warning|info|hint", "message": "one sentence", \
"quote": "the exact code the problem is in, copied from the file"}. \
Use the file's real line numbers and copy the quoted code exactly (without line numbers): \
findings whose code is not in the file are dropped. An empty list is fine when nothing is wrong."""

FINDINGS_INSTRUCTIONS = "\n\nThis is a code review. After the markdown answer, " + _FINDINGS_BLOCK

# Worded apart from the synthesis' instructions, so that scripted endpoints can tell them apart.
AGENT_FINDINGS_INSTRUCTIONS = (
    "\n\nYour sub-question is part of a review. After your answer, " + _FINDINGS_BLOCK
)

SKEPTIC_SYSTEM = """\
You are a skeptical senior reviewer. Another reviewer reported the finding below about the \
user's code. Try to refute it against the code: is the problem real, at those lines, and \
does nothing in the code shown prevent it? Refute only with evidence from the code. Reply \
with one JSON object only: {"verdict": "confirmed" or "refuted", "reason": "one sentence"}."""

SKEPTIC_TASK = """\
# Finding
{claim}

# The code at the finding (line numbers on the left)
```
{code}
```"""

RANK_SYSTEM = """\
You judge {count} answers to the user's request below, written independently. Rank them \
from best to worst by correctness (checked against the code shown), evidence and \
usefulness. Reply with one JSON object only: {{"ranking": ["A", "B", ...]}}, every \
response's letter once, best first."""

RANKING_FOR_SYNTHESIS = """\
# Peer ranking
Each agent ranked the others' answers without knowing whose they were. Weigh the answers \
by this ranking, best first, but let the evidence decide where they disagree:
"""

AGENT_TASK = """\
Your role: {role}
Your sub-question: {question}"""

FINAL_STEP = """\
You have used your tool budget. Answer your sub-question now with what you have found."""

# Headings of the prompts above that a model which goes on writing its prompt repeats, and
# that no answer of its own contains.
HEADINGS = ("Your role:", "Your sub-question:", "(line numbers on the left;")

FALLBACK_ROLES: tuple[tuple[str, str], ...] = (
    (
        "research",
        "Establish the facts: read the selected code and whatever it uses in the workspace, "
        "and describe precisely what it does and depends on.",
    ),
    (
        "analysis",
        "Analyse correctness and robustness: edge cases, error handling, concurrency, "
        "performance and security.",
    ),
    (
        "alternatives",
        "Consider alternative designs or implementations and their trade-offs against "
        "the current one.",
    ),
    (
        "verification",
        "Verify the code against its callers, tests and git history: is it used as intended, "
        "and does it behave as the surrounding code expects?",
    ),
)


def shared_context(request: Request) -> str:
    """The part of every agent's prompt that is the same for all of them."""
    parts = [f"# Request\n{request.task()}"]
    language = request.language or ""
    where = f"lines {request.start_line}-{request.end_line}"
    if request.mode.value == "review-diff":
        parts.append(f"# Diff\n```diff\n{request.selection}\n```")
    elif request.context:
        # The packed context already holds the selection, marked: sending it twice
        # would only spend the budget.
        parts.append(
            f"# Code from {request.path} (line numbers on the left; the selected {where} "
            f"are marked with >)\n```{language}\n{request.context}\n```"
        )
    else:
        parts.append(
            f"# Selected code ({request.path}, {where})\n```{language}\n{request.selection}\n```"
        )
    return "\n\n".join(parts)
