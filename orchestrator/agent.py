"""One agent: a tool-calling loop over the LLM, bounded by steps and by its own deadline."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator import prompts
from orchestrator.answers import corrective, unusable
from orchestrator.cancel import Cancelled, CancelToken, DeadlineExceeded
from orchestrator.context import CHARS_PER_TOKEN, fit_budget
from orchestrator.decompose import Subtask
from orchestrator.endpoint import Turn
from orchestrator.llm import (
    Completion,
    LLMClient,
    LLMError,
    RunShare,
    ToolCall,
    TurnListener,
    pausing,
    well_formed,
)
from orchestrator.progress import WAITING_STEP, AgentState, Progress
from orchestrator.result import AgentResult, CallUsage, ToolRead, recorder
from orchestrator.textcalls import text_tool_calls
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
    max_output_tokens: int
    context_window: int | None = None  # tokens; None: unknown, nothing is cut to fit
    # What the system prompt asks besides an answer: a findings block, in a review.
    instructions: str = ""
    share: RunShare = field(default_factory=RunShare)  # the run's budget, queue listener
    # What agents read instead of calling tools, on an endpoint that refuses them.
    context_without_tools: Callable[[], str] = lambda: ""


class _Unusable(Exception):
    """The model's final answer, even after a corrective retry, is not an answer."""


@dataclass
class Agent:
    index: int
    subtask: Subtask
    model: str
    setup: AgentSetup

    def run(self, job: CancelToken) -> tuple[AgentResult, list[CallUsage]]:
        """Never raises: every ending, good or bad, is a result with its state.

        The agent's deadline starts when it does and runs while it works: its timeout is
        its own, not the job's, and the time it waits for its turn at the endpoint (behind
        the plan, the other agents, other jobs) does not count.
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
            if failure.over_budget:
                error = "stopped: the token budget is used up"
        except _Unusable as problem:
            state, error = AgentState.FAILED, f"unusable answer after a retry: {problem}"
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
        with_tools = bool(setup.tools) and not setup.llm.tools_refused
        messages = self._opening(with_tools)
        schemas = [tool.schema() for tool in setup.tools] + [FINISH_TOOL]
        tokens_before, step, retried = 0, 0, False
        turn = _Turns(calls, reads, _OutputBudget(setup.max_tool_output_chars))
        while True:
            cancel.raise_if_cancelled()
            step += 1
            last = retried or not with_tools or step >= setup.max_iterations or turn.budget.spent
            if last and step > 1 and not retried:
                messages.append({"role": "user", "content": prompts.FINAL_STEP})
            tools = None if last else schemas
            try:
                completion = setup.llm.complete(
                    model=self.model,
                    messages=self._fitted(messages, tools),
                    tools=tools,
                    cancel=cancel,
                    on_tokens=self._token_counter(tokens_before),
                    max_tokens=setup.max_output_tokens,
                    on_attempt=recorder(
                        turn.calls, f"agent {self.index + 1} step {step}", self.model
                    ),
                    share=dataclasses.replace(setup.share, on_turn=self._waiter(cancel, step)),
                )
            except LLMError as error:
                if not (error.tools_refused and with_tools):
                    raise
                with_tools, messages, step = False, self._opening(False), 0
                continue
            tokens_before += completion.usage.completion_tokens
            setup.progress.update_agent(self.index, tokens=tokens_before)
            tool_calls = completion.tool_calls
            as_text = not tool_calls and not last
            if as_text:
                tool_calls = [
                    ToolCall(f"text_call_{n}", call.name, call.arguments)
                    for n, call in enumerate(text_tool_calls(completion.content))
                ]
            finish = next((c for c in tool_calls if c.name == "finish"), None)
            if tool_calls and finish is None and not last:
                self._run_calls(completion, tool_calls, as_text, messages, cancel, step, turn)
                continue
            answer = (_finish_answer(finish) if finish else "") or completion.content
            if not (problem := unusable(answer, messages)):
                return answer
            if retried:
                raise _Unusable(problem)
            retried = True
            messages += [
                {"role": "assistant", "content": completion.content or answer},
                {"role": "user", "content": corrective(problem)},
            ]

    def _opening(self, with_tools: bool) -> list[dict[str, Any]]:
        """The first messages: the same for every agent up to the agent's own task."""
        setup = self.setup
        task = prompts.AGENT_TASK.format(role=self.subtask.role, question=self.subtask.question)
        if with_tools:
            system, context = prompts.AGENT_SYSTEM, setup.shared_context
        else:
            system = prompts.AGENT_SYSTEM_WITHOUT_TOOLS
            context = setup.shared_context + setup.context_without_tools()
        return [
            {"role": "system", "content": system + setup.instructions},
            {"role": "user", "content": context},
            {"role": "user", "content": task},
        ]

    def _run_calls(
        self,
        completion: Completion,
        tool_calls: list[ToolCall],
        as_text: bool,
        messages: list[dict[str, Any]],
        cancel: CancelToken,
        step: int,
        turn: _Turns,
    ) -> None:
        """Run the calls (up to agent.max_tool_calls_per_turn) and add them and their results
        to the conversation.

        Calls the model wrote as text get their results as a user message: the endpoint
        that made the model write them knows nothing of tool messages.
        """
        setup = self.setup
        granted = tool_calls[: setup.max_tool_calls_per_turn]
        results = []
        for call in granted:
            cancel.raise_if_cancelled()
            setup.progress.update_agent(self.index, step=f"{call.name} (step {step})")
            with cancel.activated():  # a tool's child process dies with the agent
                output = run_tool(setup.tools, setup.workspace, call.name, call.arguments)
            turn.reads.append(ToolRead.of(call.name, call.arguments, output))
            # A file name that is not UTF-8 would make the next request unsendable.
            results.append((call, self._capped(turn.budget.take(well_formed(output)))))
        if as_text:
            messages.append({"role": "assistant", "content": completion.content})
            report = "\n\n".join(
                f"Result of {call.name}({call.arguments}):\n{result}" for call, result in results
            )
            messages.append({"role": "user", "content": report})
        else:
            messages.append(_assistant_message(completion.content, granted))
            messages += [
                {"role": "tool", "tool_call_id": call.id, "content": result}
                for call, result in results
            ]
        if skipped := len(tool_calls) - len(granted):
            messages.append({"role": "user", "content": _skipped_calls(skipped, len(granted))})
        setup.progress.update_agent(self.index, step=f"thinking (step {step + 1})")

    def _waiter(self, cancel: CancelToken, step: int) -> TurnListener:
        """While a request waits for its turn, the agent's deadline stands still and its
        step says why nothing moves."""
        run = self.setup.share.on_turn
        thinking = "thinking" if step == 1 else f"thinking (step {step})"

        def heard(before: Turn | None, after: Turn) -> None:
            if after is Turn.WAITING:
                self.setup.progress.update_agent(self.index, step=WAITING_STEP)
            elif before is Turn.WAITING:
                self.setup.progress.update_agent(self.index, step=thinking)
            if run is not None:
                run(before, after)

        return pausing(cancel, heard)

    def _capped(self, result: str) -> str:
        """A tool result cut to a quarter of a known context window."""
        window = self.setup.context_window
        return fit_budget(result, window // 4) if window else result

    def _fitted(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]]:
        """The conversation cut to fit the context window, oldest tool results first."""
        window = self.setup.context_window
        if window is None:
            return messages
        budget = (window - self.setup.max_output_tokens) * CHARS_PER_TOKEN
        budget -= len(json.dumps(tools)) if tools else 0
        fitted = [dict(m) for m in messages]
        for message in fitted[3:]:
            size = len(json.dumps(fitted, ensure_ascii=False))
            if size <= budget:
                break
            if message["role"] in ("tool", "user") and len(str(message["content"])) > 200:
                message["content"] = "[cut to fit provider.context_window; call again if needed]"
        return fitted

    def _token_counter(self, before: int) -> Callable[[int], None]:
        # Called for every streamed chunk, on the transport thread that all agents share:
        # publishing each one would cost more than the display gains.
        published = 0.0

        def count(chunks: int) -> None:
            nonlocal published
            now = time.monotonic()
            if now - published >= TOKEN_UPDATE_INTERVAL and self.setup.progress.offer_tokens(
                self.index, before + chunks
            ):
                published = now

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


@dataclass
class _Turns:
    """What an agent's turns add up: requests made, tool calls read, tool output spent."""

    calls: list[CallUsage]
    reads: list[ToolRead]
    budget: _OutputBudget


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
