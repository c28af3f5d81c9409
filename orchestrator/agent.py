"""One agent: a tool-calling loop over the LLM, bounded by steps and by its own deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator import prompts
from orchestrator.cancel import Cancelled, CancelToken, DeadlineExceeded
from orchestrator.decompose import Subtask
from orchestrator.llm import LLMClient, LLMError, ToolCall, well_formed
from orchestrator.progress import AgentState, Progress
from orchestrator.result import AgentResult, CallUsage, ToolRead
from orchestrator.tools.base import Tool, ToolError
from orchestrator.workspace import Workspace

TOKEN_UPDATE_INTERVAL = 0.05  # seconds between an agent's token-count updates while it streams

FINISH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "finish",
        "description": "Give your final answer to your sub-question and stop.",
        "parameters": {
            "type": "object",
            "properties": {"answer": {"type": "string", "description": "Markdown answer."}},
            "required": ["answer"],
        },
    },
}


@dataclass(frozen=True)
class AgentSetup:
    """What every agent of a run shares."""

    llm: LLMClient
    tools: list[Tool]
    workspace: Workspace
    max_iterations: int
    max_tool_calls_per_turn: int
    max_tool_output_chars: int
    task_timeout: float
    shared_context: str
    progress: Progress


@dataclass
class Agent:
    index: int
    subtask: Subtask
    model: str
    setup: AgentSetup

    def run(self, job: CancelToken) -> tuple[AgentResult, list[CallUsage]]:
        """Never raises: every ending, good or bad, is a result with its state.

        The agent's deadline starts when it does: its timeout is its own, not the job's.
        """
        cancel = job.child(self.setup.task_timeout)
        started = time.monotonic()
        calls: list[CallUsage] = []
        reads: list[ToolRead] = []
        progress = self.setup.progress
        progress.update_agent(self.index, state=AgentState.RUNNING, step="thinking")
        state, answer, error = AgentState.DONE, "", ""
        try:
            answer = self._loop(cancel, calls, reads)
            if not answer.strip():
                state, error = AgentState.FAILED, "the model gave an empty answer"
        except DeadlineExceeded:
            limit = f"{self.setup.task_timeout:g} s (orchestrator.task_timeout)"
            state, error = AgentState.TIMED_OUT, f"stopped after {limit}"
        except Cancelled:
            state, error = AgentState.CANCELLED, "cancelled"
        except LLMError as failure:
            state, error = AgentState.FAILED, str(failure)
        finally:
            cancel.release()
        progress.update_agent(self.index, state=state, error=error, step="")
        result = AgentResult(
            index=self.index,
            role=self.subtask.role,
            question=self.subtask.question,
            model=self.model,
            state=state,
            answer=answer,
            error=error,
            seconds=time.monotonic() - started,
            reads=reads,
        )
        return result, calls

    def _loop(self, cancel: CancelToken, calls: list[CallUsage], reads: list[ToolRead]) -> str:
        setup = self.setup
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.AGENT_SYSTEM},
            {"role": "user", "content": setup.shared_context},
            {
                "role": "user",
                "content": prompts.AGENT_TASK.format(
                    role=self.subtask.role, question=self.subtask.question
                ),
            },
        ]
        schemas = [tool.schema() for tool in setup.tools] + [FINISH_TOOL]
        tokens_before = 0
        budget = _OutputBudget(setup.max_tool_output_chars)
        for step in range(1, setup.max_iterations + 1):
            cancel.raise_if_cancelled()
            last = step == setup.max_iterations or budget.spent
            if last and step > 1:
                messages.append({"role": "user", "content": prompts.FINAL_STEP})
            completion = setup.llm.complete(
                model=self.model,
                messages=messages,
                tools=None if last else schemas,
                cancel=cancel,
                on_tokens=self._token_counter(tokens_before),
            )
            tokens_before += completion.usage.completion_tokens
            calls.append(
                CallUsage(f"agent {self.index + 1} step {step}", self.model, completion.usage)
            )
            setup.progress.update_agent(self.index, tokens=tokens_before)
            if not completion.tool_calls or last:
                return completion.content
            finish = next((c for c in completion.tool_calls if c.name == "finish"), None)
            if finish is not None:
                return _finish_answer(finish) or completion.content
            granted = completion.tool_calls[: setup.max_tool_calls_per_turn]
            messages.append(_assistant_message(completion.content, granted))
            for call in granted:
                cancel.raise_if_cancelled()
                setup.progress.update_agent(self.index, step=f"{call.name} (step {step})")
                with cancel.activated():  # a tool's child process dies with the agent
                    output = run_tool(setup.tools, setup.workspace, call.name, call.arguments)
                reads.append(ToolRead.of(call.name, call.arguments, output))
                # A file name that is not UTF-8 would make the next request unsendable.
                output = budget.take(well_formed(output))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
            if skipped := len(completion.tool_calls) - len(granted):
                messages.append({"role": "user", "content": _skipped_calls(skipped, len(granted))})
            setup.progress.update_agent(self.index, step=f"thinking (step {step + 1})")
        raise AssertionError("unreachable: the last step always returns")

    def _token_counter(self, before: int) -> Callable[[int], None]:
        # Called for every streamed chunk, on the transport thread that all agents share:
        # publishing each one would cost more than the display gains.
        published = 0.0

        def count(chunks: int) -> None:
            nonlocal published
            now = time.monotonic()
            if now - published >= TOKEN_UPDATE_INTERVAL:
                published = now
                self.setup.progress.update_agent(self.index, tokens=before + chunks)

        return count


def run_tool(tools: list[Tool], workspace: Workspace, name: str, arguments: str) -> str:
    """Run one tool call as the model made it; every problem becomes text it can act on."""
    tool = next((tool for tool in tools if tool.name == name), None)
    if tool is None:
        known = ", ".join(tool.name for tool in tools) or "none"
        return f"error: unknown tool '{name}'. Available tools: {known}, finish."
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError as error:
        return f"error: the arguments are not valid JSON ({error.msg}); send a JSON object."
    if not isinstance(parsed, dict):
        return "error: the arguments must be a JSON object."
    try:
        return tool.execute(workspace, parsed)
    except ToolError as error:
        return f"error: {error}"
    except Exception as error:
        # A broken third-party tool costs one step, not the whole agent.
        return f"error: tool '{name}' failed: {type(error).__name__}: {error}"


def _assistant_message(content: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ],
    }


def _skipped_calls(skipped: int, ran: int) -> str:
    return (
        f"Only your first {ran} tool calls were run; the other {skipped} were not "
        f"(at most {ran} per turn, agent.max_tool_calls_per_turn). Ask again for what you "
        "still need, fewer at a time."
    )


class _OutputBudget:
    """What an agent's tools may still return in all, so its requests stay bounded."""

    def __init__(self, chars: int) -> None:
        self._left = chars
        self._total = chars

    @property
    def spent(self) -> bool:
        return self._left <= 0

    def take(self, output: str) -> str:
        if self.spent:
            return "error: the tool output budget is used up; answer with what you have."
        kept = output[: self._left]
        self._left -= len(output)
        if len(kept) < len(output):
            kept += (
                f"\n[cut here: this agent's tools may return {self._total} characters in all "
                "(agent.max_tool_output_chars); answer with what you have]"
            )
        return kept


def _finish_answer(call: ToolCall) -> str:
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return call.arguments
    answer = arguments.get("answer") if isinstance(arguments, dict) else None
    return answer if isinstance(answer, str) else ""
