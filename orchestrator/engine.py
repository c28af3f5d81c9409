"""The orchestrator: decompose, run agents in parallel, synthesise; keep every finished answer."""

from __future__ import annotations

import dataclasses
import functools
import json
import queue
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from orchestrator import prompts
from orchestrator.agent import FINISH_TOOL, Agent, AgentSetup, run_tool
from orchestrator.answers import UnusableAnswer
from orchestrator.budget import TokenBudget
from orchestrator.cache import CacheError, ResultCache, cache_key
from orchestrator.cancel import Cancelled, CancelToken, DeadlineExceeded
from orchestrator.config import Config, OutputTokens
from orchestrator.context import CHARS_PER_TOKEN, pack_context, shrink_request
from orchestrator.cost import phase_costs
from orchestrator.decompose import Plan, Subtask, decompose, fallback_plan
from orchestrator.grounding import Reader, bad_citations, citations_warning
from orchestrator.llm import LLMClient, LLMError, RunShare, pausing
from orchestrator.progress import AgentState, AgentStatus, Phase, Progress
from orchestrator.ranking import Ranker, for_synthesis
from orchestrator.request import Mode, Request
from orchestrator.result import (
    SEVERITY_RANK,
    AgentResult,
    CallUsage,
    Finding,
    Rank,
    Rejected,
    RunResult,
    RunStatus,
    ToolRead,
)
from orchestrator.review import final_findings, with_agent_findings
from orchestrator.single import answer_once
from orchestrator.skeptic import Skeptic
from orchestrator.synthesis import labelled_answers, synthesise
from orchestrator.tools import build_tools
from orchestrator.tools.base import ToolError
from orchestrator.workspace import Workspace

# Tokens an agent's prompt needs besides the code: system prompt, task, tool results.
_AGENT_OVERHEAD = 400
_EXCERPT_MARGIN = 8  # lines the skeptic sees on each side of a finding


@dataclass(frozen=True)
class Checked:
    """The skeptic pass's outcome: findings kept, refuted, what went wrong, and whether the
    user cancelled it."""

    kept: list[Finding]
    rejected: list[Rejected]
    failures: list[str]
    cancelled: bool = False


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
        self.workspace = workspace.with_policy(config.agent.read_policy())
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
        """Gather the agents' answers, merge them, conclude: each a named step below."""
        started = time.monotonic()
        progress.set_phase(Phase.DECOMPOSING)
        window = self.llm.context_window(self.config.provider.model)
        output = _output_tokens(self.config.provider.max_output_tokens, window)
        if window is not None:
            request = shrink_request(request, self._code_budget(window, output))
        run = _Run(
            request,
            cancel,
            progress,
            started,
            output,
            window,
            # The files findings cite, read once for the grounding, citations and checks.
            functools.cache(self._grounding_text),
            RunShare(
                TokenBudget(self.config.orchestrator.max_tokens),
                progress.turn,
                self.config.orchestrator.phase_seconds,
            ),
        )
        if self.config.orchestrator.strategy == "single":
            return self._single(run)
        gathered = self._gather(run)
        if isinstance(gathered, RunResult):
            return gathered
        answers = gathered
        succeeded = [answer for answer in answers if answer.state is AgentState.DONE]
        if cancel.cancelled:
            return self._conclude(run, answers, RunStatus.CANCELLED, labelled_answers(succeeded))
        if not succeeded:
            return self._conclude(run, answers, RunStatus.FAILED, "")
        status, markdown, synthesised = self._merge(run, succeeded)
        if status is RunStatus.DONE and len(succeeded) < len(answers):
            status = RunStatus.PARTIAL
        return self._conclude(run, answers, status, markdown, synthesised)

    def _gather(self, run: _Run) -> list[AgentResult] | RunResult:
        """Decompose and run the agents, each starting as its sub-question streams in.

        A RunResult instead when the endpoint fails in a way every agent would repeat.
        """
        request, cancel, progress = run.request, run.cancel, run.progress
        count = self.config.orchestrator.parallel_agents
        # Every agent starts at once, even on an endpoint with fewer slots: waiting for a turn
        # does not count against its timeout, and one agent's tools run while another asks.
        pool = ThreadPoolExecutor(count, thread_name_prefix="deepthink-agent")
        try:
            setup = self._agent_setup(request, progress, run.output.agent, run.window, run.share)
            team = _Team(pool, setup, self.config, cancel)
            plan: Plan | None
            phase = cancel.child(self.config.orchestrator.phase_seconds)
            try:
                plan = self._plan(request, count, phase, team, run, run.output.plan)
            except DeadlineExceeded:
                plan = Plan(fallback_plan(request, count), f"decomposition {self._too_long()}")
            except Cancelled:
                plan = None
            except LLMError as error:
                if error.endpoint_unusable and not team.started:
                    # Every agent would only repeat the failure: report it once, at once.
                    run.failures.append(str(error))
                    return self._end(run, RunStatus.FAILED, "")
                plan = Plan(fallback_plan(request, count), f"decomposition failed ({error})")
            finally:
                phase.release()
            if plan is not None:
                if plan.note:
                    run.failures.append(plan.note)
                # Agents already started keep their sub-question; the plan gives the others.
                for index, subtask in enumerate(plan.subtasks):
                    team.start(index, subtask)
                progress.set_phase(Phase.RUNNING)
            answers, agent_calls = team.results()
        finally:
            # `results()` has waited for every agent: their idle threads can exit while
            # synthesis goes ahead, rather than hold it up.
            pool.shutdown(wait=False)
        run.calls += agent_calls
        if request.mode.is_review:
            answers = with_agent_findings(answers, request.path)
        if self.tools and self.llm.tools_refused:
            run.failures.append(
                f"{self.config.provider.base_url} does not take tool calls: agents answered "
                "without tools, from more of the file packed into their prompts"
            )
        run.failures += [
            f"agent {a.index + 1} ({a.role}): {a.error}"
            for a in answers
            if a.error and a.state is not AgentState.CANCELLED  # the user's own doing
        ]
        if run.share.budget.refused:
            run.failures.append(run.share.budget.note())
        return answers

    def _merge(
        self, run: _Run, succeeded: list[AgentResult]
    ) -> tuple[RunStatus, str, list[Finding]]:
        """Rank the answers if asked, then synthesise them; the agents' own answers, labelled,
        when synthesis cannot be had."""
        cancel, failures = run.cancel, run.failures
        labelled = labelled_answers(succeeded)
        if self.config.council.rank:
            try:
                run.ranking += self._rank(
                    run.request,
                    succeeded,
                    cancel,
                    run.calls,
                    run.share,
                    failures,
                    run.output,
                    run.progress,
                )
            except Cancelled:
                return RunStatus.CANCELLED, labelled, []
        run.progress.set_phase(Phase.SYNTHESISING)
        phase = cancel.child(self.config.orchestrator.phase_seconds)
        try:
            synthesis = synthesise(
                run.request,
                succeeded,
                self.llm,
                self.config.synthesis_model,
                phase,
                run.calls,
                run.output.synthesis,
                run.window,
                for_synthesis(run.ranking),
                share=run.share,
            )
        except DeadlineExceeded:
            failures.append(f"synthesis {self._too_long()}")
            return RunStatus.PARTIAL, labelled, []
        except Cancelled:
            return RunStatus.CANCELLED, labelled, []
        except (LLMError, UnusableAnswer) as error:
            failures.append(f"synthesis: {error}")
            return RunStatus.PARTIAL, labelled, []
        finally:
            phase.release()
        if synthesis.note:
            failures.append(f"synthesis: {synthesis.note}")
        return RunStatus.DONE, synthesis.markdown, synthesis.findings

    def _conclude(
        self,
        run: _Run,
        answers: list[AgentResult],
        status: RunStatus,
        markdown: str,
        synthesised: list[Finding] | None = None,
    ) -> RunResult:
        """Ground, merge and verify a review's findings, check the citations, and end."""
        findings: list[Finding] = []
        rejected: list[Rejected] = []
        if run.request.mode.is_review and status is not RunStatus.CANCELLED:
            reviewed = final_findings(
                answers, synthesised or [], run.read, self.config.review.min_agreement
            )
            findings = reviewed.findings
            run.failures.extend(reviewed.warnings)
            if findings and self.config.review.verify and status is not RunStatus.FAILED:
                run.progress.set_phase(Phase.VERIFYING)
                checked = self._verify(
                    run.request,
                    findings,
                    run.cancel,
                    run.calls,
                    run.share,
                    run.output.plan,
                    run.read,
                )
                findings, rejected = checked.kept, checked.rejected
                run.failures.extend(checked.failures)
                if checked.cancelled:
                    status = RunStatus.CANCELLED
        return self._end(run, status, markdown, answers, findings, rejected)

    def _end(
        self,
        run: _Run,
        status: RunStatus,
        markdown: str,
        answers: list[AgentResult] | None = None,
        findings: list[Finding] | None = None,
        rejected: list[Rejected] | None = None,
    ) -> RunResult:
        """Check the answer's citations, show the run's end, and make its result."""
        cited = bad_citations(markdown, run.read)
        run.failures.extend(citations_warning(cited))
        run.progress.set_phase(_PHASE_OF[status])
        return RunResult(
            status,
            markdown,
            agents=answers or [],
            findings=findings or [],
            calls=run.calls,
            seconds=time.monotonic() - run.started,
            failures=run.failures,
            bad_citations=cited,
            phases=phase_costs(run.calls, self.config.provider.prices),
            rejected=rejected or [],
            ranking=run.ranking,
        )

    def _still_valid(self, cached: RunResult) -> bool:
        """Whether every tool call of the cached run still returns what it returned then."""
        reads = {read for agent in cached.agents for read in agent.reads}
        return all(
            ToolRead.of(read.tool, read.arguments, self._replay(read)) == read for read in reads
        )

    def _replay(self, read: ToolRead) -> str:
        return run_tool(self.tools, self.workspace, read.tool, read.arguments)

    def _single(self, run: _Run) -> RunResult:
        """orchestrator.strategy single: one call, grounded findings, the same result shape."""
        run.progress.set_phase(Phase.RUNNING)
        deadline = run.cancel.child(self.config.orchestrator.task_timeout)
        status, markdown, found = RunStatus.DONE, "", []
        try:
            answer = answer_once(
                run.request,
                self.llm,
                self.config.provider.model,
                deadline,
                run.calls,
                run.output.synthesis,
                # Like an agent's, its timeout counts its work, not its wait for a turn.
                dataclasses.replace(run.share, on_turn=pausing(deadline, run.share.on_turn)),
            )
            markdown, found = answer.markdown, answer.findings
            if answer.note:
                run.failures.append(f"findings block: {answer.note}")
        except DeadlineExceeded:
            status = RunStatus.FAILED
            run.failures.append(f"stopped after {self.config.orchestrator.task_timeout:g} s")
        except Cancelled:
            status = RunStatus.CANCELLED
        except (LLMError, UnusableAnswer) as error:
            status = RunStatus.FAILED
            run.failures.append(str(error))
        finally:
            deadline.release()
        findings: list[Finding] = []
        if run.request.mode.is_review and status is RunStatus.DONE:
            # One answer: its findings need no agreement, and no skeptic pass checks them.
            reviewed = final_findings([], found, run.read, 1)
            findings = reviewed.findings
            run.failures.extend(reviewed.warnings)
        return self._end(run, status, markdown, findings=findings)

    def _rank(
        self,
        request: Request,
        answers: list[AgentResult],
        cancel: CancelToken,
        calls: list[CallUsage],
        share: RunShare,
        failures: list[str],
        output: OutputTokens,
        progress: Progress,
    ) -> list[Rank]:
        """council.rank: the answers' blind peer ranking; [] with a warning when it cannot be.

        Raises Cancelled when the user cancels it.
        """
        if len(answers) < 3:
            failures.append("no peer ranking (council.rank): it needs 3 answers or more")
            return []
        if share.budget.spent:
            failures.append("no peer ranking: the token budget is used up")
            return []
        progress.set_phase(Phase.RANKING)
        workers = min(len(answers), self.config.provider.max_concurrent_requests or len(answers))
        ranker = Ranker(self.llm, self.config.agent_model, output.plan, workers, share)
        phase = cancel.child(self.config.orchestrator.phase_seconds)
        try:
            ranked = ranker.rank(request, answers, phase, calls)
        except DeadlineExceeded:
            failures.append(f"peer ranking {self._too_long()}")
            return []
        finally:
            phase.release()
        failures.extend(ranked.failures)
        return ranked.ranks

    def _verify(
        self,
        request: Request,
        findings: list[Finding],
        cancel: CancelToken,
        calls: list[CallUsage],
        share: RunShare,
        max_tokens: int,
        read: Reader,
    ) -> Checked:
        """The skeptic pass over the findings most agents raised, most severe first."""
        if share.budget.spent:
            return Checked(findings, [], ["findings not verified: the token budget is used up"])
        limit = self.config.review.max_verified
        order = sorted(
            range(len(findings)),
            key=lambda n: (-len(findings[n].agents), SEVERITY_RANK[findings[n].severity], n),
        )
        chosen = sorted(order[:limit])
        notes = []
        if skipped := len(findings) - len(chosen):
            notes.append(f"{skipped} finding(s) kept unverified (review.max_verified is {limit})")
        workers = min(len(chosen), self.config.provider.max_concurrent_requests or len(chosen))
        skeptic = Skeptic(self.llm, self.config.synthesis_model, max_tokens, workers, share)
        phase = cancel.child(self.config.orchestrator.phase_seconds)
        try:
            verified = skeptic.verify(
                request,
                [findings[n] for n in chosen],
                functools.partial(excerpt, read),
                phase,
                calls,
            )
        except DeadlineExceeded:
            return Checked(findings, [], [*notes, f"verification {self._too_long()}"])
        except Cancelled:
            return Checked(findings, [], notes, cancelled=True)
        finally:
            phase.release()
        refuted = {id(r.finding) for r in verified.rejected}
        kept = [f for n, f in enumerate(findings) if n not in chosen or id(f) not in refuted]
        return Checked(kept, verified.rejected, [*notes, *verified.failures])

    def _grounding_text(self, path: str) -> str | None:
        """A cited file's text to check findings against (the editor's, when it is open with
        unsaved edits): '' when there is no such file, None when it cannot be checked
        (refused, outside the workspace, cut at the read cap)."""
        try:
            if not self.workspace.has_file(path):
                return ""
            excerpt = self.workspace.read_excerpt(path)
        except (ToolError, OSError):
            return None
        return None if excerpt.truncation_notice else excerpt.text

    def _too_long(self) -> str:
        seconds = self.config.orchestrator.phase_seconds
        return f"stopped after {seconds:g} s (orchestrator.phase_timeout)"

    def _plan(
        self,
        request: Request,
        count: int,
        cancel: CancelToken,
        team: _Team,
        run: _Run,
        max_tokens: int,
    ) -> Plan:
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
                run.calls,
                max_tokens,
                lambda index, subtask: arrived.put((index, subtask)),
                share=run.share,
            )
            planning.add_done_callback(lambda _: arrived.put(None))
            while (subtask := arrived.get()) is not None:
                team.start(*subtask)
            return planning.result()

    def _agent_setup(
        self,
        request: Request,
        progress: Progress,
        max_output: int,
        window: int | None,
        share: RunShare,
    ) -> AgentSetup:
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
            max_output_tokens=max_output,
            context_window=window,
            instructions=prompts.AGENT_FINDINGS_INSTRUCTIONS if request.mode.is_review else "",
            share=share,
            context_without_tools=functools.cache(
                lambda: self._more_context(request, max_output, window)
            ),
        )

    def _code_budget(self, window: int, output: OutputTokens) -> int:
        """Tokens of code that leave room, within the window, for an agent's whole turn."""
        schemas = [tool.schema() for tool in self.tools] + [FINISH_TOOL]
        tools = len(json.dumps(schemas)) // CHARS_PER_TOKEN
        room = window - output.agent - tools - _AGENT_OVERHEAD - window // 4
        return max(100, min(self.config.context.max_tokens, room))

    def _more_context(self, request: Request, max_output: int, window: int | None) -> str:
        """More of the selected file, for agents on an endpoint that refuses tool calls."""
        if request.mode is Mode.REVIEW_DIFF or not request.path:
            return ""
        try:
            text = self.workspace.read_excerpt(request.path).text
        except (ToolError, OSError):
            return ""
        budget = 2 * self.config.context.max_tokens
        if window is not None:
            budget = min(budget, window - max_output - _AGENT_OVERHEAD)
        packed = pack_context(text, request.start_line, request.end_line, max(100, budget))
        return (
            f"\n\n# More of {request.path} (you have no tools: this is what you can see)"
            f"\n```{request.language}\n{packed}\n```"
        )


@dataclass
class _Run:
    """What one run's steps share: its request, cancel and progress, and what they add up."""

    request: Request
    cancel: CancelToken
    progress: Progress
    started: float
    output: OutputTokens
    window: int | None  # the endpoint's context window, when known
    read: Reader
    share: RunShare  # the token budget and the progress's queue listener, for every request
    calls: list[CallUsage] = field(default_factory=list)  # every request sent, in order
    failures: list[str] = field(default_factory=list)
    ranking: list[Rank] = field(default_factory=list)


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


def excerpt(read: Reader, finding: Finding) -> str:
    """The finding's lines and a few around them, numbered, for the skeptic."""
    text = read(finding.path)
    if not text:
        return ""
    lines = text.splitlines()
    first = max(1, finding.start_line - _EXCERPT_MARGIN)
    last = min(len(lines), finding.end_line + _EXCERPT_MARGIN)
    return "\n".join(f"{n:>5}| {lines[n - 1]}" for n in range(first, last + 1))


def _output_tokens(configured: OutputTokens, window: int | None) -> OutputTokens:
    """Each phase's answer cap, no more than a quarter of a known context window."""
    if window is None:
        return configured
    cap = max(16, window // 4)
    return OutputTokens(
        plan=min(configured.plan, cap),
        agent=min(configured.agent, cap),
        synthesis=min(configured.synthesis, cap),
    )


_PHASE_OF = {
    RunStatus.DONE: Phase.DONE,
    RunStatus.PARTIAL: Phase.DONE,
    RunStatus.FAILED: Phase.FAILED,
    RunStatus.CANCELLED: Phase.CANCELLED,
}
