"""The orchestrator: decompose, run agents in parallel, synthesise; keep every finished answer."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from orchestrator import prompts
from orchestrator.agent import Agent, AgentSetup
from orchestrator.cache import ResultCache, cache_key
from orchestrator.cancel import Cancelled, CancelToken
from orchestrator.config import Config
from orchestrator.decompose import Plan, decompose, fallback_plan
from orchestrator.llm import LLMClient, LLMError
from orchestrator.progress import AgentState, AgentStatus, Phase, Progress
from orchestrator.request import Request
from orchestrator.result import AgentResult, CallUsage, RunResult, RunStatus
from orchestrator.synthesis import labelled_answers, synthesise
from orchestrator.tools import build_tools
from orchestrator.workspace import Workspace


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
        self.workspace = workspace
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
        key = cache_key(request, self.config)
        if (cached := self.cache.get(key)) is not None:
            progress.set_phase(Phase.DONE)
            return cached
        result = self._run(request, cancel, progress)
        if result.status is RunStatus.DONE:
            self.cache.put(key, result)
        return result

    def _run(self, request: Request, cancel: CancelToken, progress: Progress) -> RunResult:
        started = time.monotonic()
        count = self.config.orchestrator.parallel_agents
        progress.set_phase(Phase.DECOMPOSING)
        failures: list[str] = []
        try:
            plan = decompose(request, count, self.llm, self.config.provider.model, cancel)
        except Cancelled:
            progress.set_phase(Phase.CANCELLED)
            return RunResult(RunStatus.CANCELLED, "", seconds=time.monotonic() - started)
        except LLMError as error:
            if error.endpoint_unusable:
                # Every agent would only repeat the failure: report it once, at once.
                progress.set_phase(Phase.FAILED)
                return RunResult(
                    RunStatus.FAILED, "", seconds=time.monotonic() - started, failures=[str(error)]
                )
            plan = Plan(fallback_plan(request, count), [], f"decomposition failed ({error})")
        if plan.note:
            failures.append(plan.note)
        answers, agent_calls = self._run_agents(request, plan, cancel, progress)
        calls = plan.calls + agent_calls
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
        try:
            synthesis = synthesise(
                request, succeeded, self.llm, self.config.synthesis_model, cancel
            )
        except Cancelled:
            return finish(RunStatus.CANCELLED, labelled_answers(succeeded))
        except LLMError as error:
            failures.append(f"synthesis: {error}")
            return finish(RunStatus.PARTIAL, labelled_answers(succeeded))
        calls.append(synthesis.call)
        if synthesis.note:
            failures.append(f"synthesis: {synthesis.note}")
        status = RunStatus.DONE if len(succeeded) == len(answers) else RunStatus.PARTIAL
        return finish(status, synthesis.markdown, findings=synthesis.findings)

    def _run_agents(
        self, request: Request, plan: Plan, cancel: CancelToken, progress: Progress
    ) -> tuple[list[AgentResult], list[CallUsage]]:
        setup = AgentSetup(
            llm=self.llm,
            tools=self.tools,
            workspace=self.workspace,
            max_iterations=self.config.agent.max_iterations,
            task_timeout=self.config.orchestrator.task_timeout,
            shared_context=prompts.shared_context(request),
            progress=progress,
        )
        agents = [
            Agent(index, subtask, self.config.agent_model(index), setup)
            for index, subtask in enumerate(plan.subtasks)
        ]
        progress.set_agents([AgentStatus(a.index, a.subtask.role, a.model) for a in agents])
        progress.set_phase(Phase.RUNNING)
        workers = self.config.orchestrator.max_concurrent_agents or len(agents)
        with ThreadPoolExecutor(workers, thread_name_prefix="deepthink-agent") as pool:
            futures = [pool.submit(agent.run, cancel) for agent in agents]
            outcomes = [future.result() for future in futures]
        answers = [result for result, _ in outcomes]
        calls = [call for _, agent_calls in outcomes for call in agent_calls]
        return answers, calls


_PHASE_OF = {
    RunStatus.DONE: Phase.DONE,
    RunStatus.PARTIAL: Phase.DONE,
    RunStatus.FAILED: Phase.FAILED,
    RunStatus.CANCELLED: Phase.CANCELLED,
}
