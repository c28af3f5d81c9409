"""The orchestrator: decompose, run agents in parallel, synthesise; keep every finished answer."""

from __future__ import annotations

import dataclasses
import queue
import time
from concurrent.futures import Future, ThreadPoolExecutor

from orchestrator import prompts
from orchestrator.agent import Agent, AgentSetup, run_tool
from orchestrator.cache import CacheError, ResultCache, cache_key
from orchestrator.cancel import Cancelled, CancelToken, DeadlineExceeded
from orchestrator.config import Config
from orchestrator.decompose import Plan, Subtask, decompose, fallback_plan
from orchestrator.llm import LLMClient, LLMError
from orchestrator.progress import AgentState, AgentStatus, Phase, Progress
from orchestrator.request import Request
from orchestrator.result import AgentResult, CallUsage, RunResult, RunStatus, ToolRead
from orchestrator.synthesis import labelled_answers, synthesise
from orchestrator.tools import build_tools
from orchestrator.workspace import ReadPolicy, Workspace


class Orchestrator:
    """Runs deep-think requests against one endpoint and workspace; safe to share between jobs."""

    def __init__(
        self,
        config: Config,
        workspace: Workspace,
        llm: LLMClient,
        cache: ResultCache | None = None,
    ) -> None:
        self.config = config
        allowed = ReadPolicy(tuple(config.agent.allow_paths), tuple(config.agent.deny_paths))
        self.workspace = workspace.with_policy(allowed)
        self.llm = llm
        self.tools = build_tools(config.agent.tools)
        self.cache = cache if config.cache.enabled else None

    def run(
        self,
        request: Request,
        cancel: CancelToken | None = None,
        progress: Progress | None = None,
    ) -> RunResult:
        cancel = cancel or CancelToken()
        progress = progress or Progress()
        if self.cache is None:
            return self._run(request, cancel, progress)
        key = cache_key(request, self.config, self.workspace.root)
        try:
            if (cached := self.cache.get(key)) is not None:
                with cancel.activated():  # the replayed tools' child processes die on cancel
                    valid = self._still_valid(cached)
                if valid:
                    progress.set_phase(Phase.DONE)
                    return cached
        except CacheError as error:
            # The cache only saves time: a run without it is worth a warning, not a failure.
            result = self._run(request, cancel, progress)
            return dataclasses.replace(result, failures=[*result.failures, str(error)])
        result = self._run(request, cancel, progress)
        if result.status is RunStatus.DONE:
            try:
                self.cache.put(key, result)
            except CacheError as error:
                return dataclasses.replace(result, failures=[*result.failures, str(error)])
        return result

    def _run(self, request: Request, cancel: CancelToken, progress: Progress) -> RunResult:
        started = time.monotonic()
        count = self.config.orchestrator.parallel_agents
        progress.set_phase(Phase.DECOMPOSING)
        failures: list[str] = []
        workers = self.config.orchestrator.max_concurrent_agents or count
        pool = ThreadPoolExecutor(workers, thread_name_prefix="deepthink-agent")
        try:
            team = _Team(pool, self._agent_setup(request, progress), self.config, cancel)
            plan: Plan | None
            phase = cancel.child(self.config.orchestrator.phase_seconds)
            try:
                plan = self._plan(request, count, phase, team)
            except DeadlineExceeded:
                plan = Plan(fallback_plan(request, count), [], f"decomposition {self._too_long()}")
            except Cancelled:
                plan = None
            except LLMError as error:
                if error.endpoint_unusable and not team.started:
                    # Every agent would only repeat the failure: report it once, at once.
                    progress.set_phase(Phase.FAILED)
                    return RunResult(
                        RunStatus.FAILED,
                        "",
                        seconds=time.monotonic() - started,
                        failures=[str(error)],
                    )
                plan = Plan(fallback_plan(request, count), [], f"decomposition failed ({error})")
            finally:
                phase.release()
            if plan is not None:
                if plan.note:
                    failures.append(plan.note)
                # Agents already started keep their sub-question; the plan gives the others.
                for index, subtask in enumerate(plan.subtasks):
                    team.start(index, subtask)
                progress.set_phase(Phase.RUNNING)
            answers, agent_calls = team.results()
        finally:
            # `results()` has waited for every agent: their idle threads can exit while
            # synthesis goes ahead, rather than hold it up.
            pool.shutdown(wait=False)
        calls = (plan.calls if plan else []) + agent_calls
        failures += [
            f"agent {a.index + 1} ({a.role}): {a.error}"
            for a in answers
            if a.error and a.state is not AgentState.CANCELLED  # the user's own doing
        ]
        succeeded = [answer for answer in answers if answer.state is AgentState.DONE]

        def finish(status: RunStatus, markdown: str, **extra: object) -> RunResult:
            progress.set_phase(_PHASE_OF[status])
            return RunResult(
                status,
                markdown,
                agents=answers,
                calls=calls,
                seconds=time.monotonic() - started,
                failures=failures,
                **extra,  # type: ignore[arg-type]
            )

        if cancel.cancelled:
            return finish(RunStatus.CANCELLED, labelled_answers(succeeded))
        if not succeeded:
            return finish(RunStatus.FAILED, "")
        progress.set_phase(Phase.SYNTHESISING)
        phase = cancel.child(self.config.orchestrator.phase_seconds)
        try:
            synthesis = synthesise(request, succeeded, self.llm, self.config.synthesis_model, phase)
        except DeadlineExceeded:
            failures.append(f"synthesis {self._too_long()}")
            return finish(RunStatus.PARTIAL, labelled_answers(succeeded))
        except Cancelled:
            return finish(RunStatus.CANCELLED, labelled_answers(succeeded))
        except LLMError as error:
            failures.append(f"synthesis: {error}")
            return finish(RunStatus.PARTIAL, labelled_answers(succeeded))
        finally:
            phase.release()
        calls.append(synthesis.call)
        if synthesis.note:
            failures.append(f"synthesis: {synthesis.note}")
        status = RunStatus.DONE if len(succeeded) == len(answers) else RunStatus.PARTIAL
        return finish(status, synthesis.markdown, findings=synthesis.findings)

    def _still_valid(self, cached: RunResult) -> bool:
        """Whether every tool call of the cached run still returns what it returned then."""
        reads = {read for agent in cached.agents for read in agent.reads}
        return all(
            ToolRead.of(read.tool, read.arguments, self._replay(read)) == read for read in reads
        )

    def _replay(self, read: ToolRead) -> str:
        return run_tool(self.tools, self.workspace, read.tool, read.arguments)

    def _too_long(self) -> str:
        seconds = self.config.orchestrator.phase_seconds
        return f"stopped after {seconds:g} s (orchestrator.phase_timeout)"

    def _plan(self, request: Request, count: int, cancel: CancelToken, team: _Team) -> Plan:
        """Decompose, starting each agent as soon as its sub-question has streamed in.

        The plan is read on the LLM transport thread, which every agent's requests need:
        agents are started from here instead, as starting a thread waits for it to run.
        """
        arrived: queue.SimpleQueue[tuple[int, Subtask] | None] = queue.SimpleQueue()
        with ThreadPoolExecutor(1, thread_name_prefix="deepthink-plan") as planner:
            planning = planner.submit(
                decompose,
                request,
                count,
                self.llm,
                self.config.provider.model,
                cancel,
                lambda index, subtask: arrived.put((index, subtask)),
            )
            planning.add_done_callback(lambda _: arrived.put(None))
            while (subtask := arrived.get()) is not None:
                team.start(*subtask)
            return planning.result()

    def _agent_setup(self, request: Request, progress: Progress) -> AgentSetup:
        return AgentSetup(
            llm=self.llm,
            tools=self.tools,
            workspace=self.workspace,
            max_iterations=self.config.agent.max_iterations,
            max_tool_calls_per_turn=self.config.agent.max_tool_calls_per_turn,
            max_tool_output_chars=self.config.agent.max_tool_output_chars,
            task_timeout=self.config.orchestrator.task_timeout,
            shared_context=prompts.shared_context(request),
            progress=progress,
        )


class _Team:
    """A run's agents, each started once, by the plan streaming in or by the plan complete.

    Both start them in index order, so the agents started always run from 0 without a gap
    and each one's index is its place in the progress.
    """

    def __init__(
        self, pool: ThreadPoolExecutor, setup: AgentSetup, config: Config, cancel: CancelToken
    ) -> None:
        self._pool = pool
        self._setup = setup
        self._config = config
        self._cancel = cancel
        self._runs: list[Future[tuple[AgentResult, list[CallUsage]]]] = []

    @property
    def started(self) -> int:
        return len(self._runs)

    def start(self, index: int, subtask: Subtask) -> None:
        if index != len(self._runs):
            return  # started already
        agent = Agent(index, subtask, self._config.agent_model(index), self._setup)
        self._setup.progress.add_agent(AgentStatus(index, subtask.role, agent.model))
        self._runs.append(self._pool.submit(agent.run, self._cancel))

    def results(self) -> tuple[list[AgentResult], list[CallUsage]]:
        outcomes = [run.result() for run in self._runs]
        return [result for result, _ in outcomes], [c for _, calls in outcomes for c in calls]


_PHASE_OF = {
    RunStatus.DONE: Phase.DONE,
    RunStatus.PARTIAL: Phase.DONE,
    RunStatus.FAILED: Phase.FAILED,
    RunStatus.CANCELLED: Phase.CANCELLED,
}
